from django.urls import path

from frontend import views

app_name = "frontend"

urlpatterns = [
    path("", views.index, name="index"),
    path("rooms.json", views.lobby_rooms_json, name="lobby_rooms"),
    path("call/<str:room_id>/", views.call, name="call"),
    path("chat/<str:room_id>/", views.chat, name="chat"),
    path("test/", views.connection_test, name="connection_test"),
]
