"""Gongsu web service: FastAPI routes, database models and the services between them."""
