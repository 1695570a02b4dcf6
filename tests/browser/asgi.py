"""The reference project's ASGI application with its static files served, as ``runserver`` would serve them."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from rtcsite.asgi import application as site

application = ASGIStaticFilesHandler(site)
