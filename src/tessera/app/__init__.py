"""The ASGI application: request pipeline, routes and process wiring."""
