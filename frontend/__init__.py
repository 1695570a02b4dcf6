"""The browser side: the client library's static files and the demo pages."""
