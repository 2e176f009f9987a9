"""The ActivityPub protocol as a small library: vocabulary, JSON limits, HTTP signatures, safe
transport, WebFinger, bulk delivery and sanitising of remote HTML.

It never imports flask, sqlalchemy or hub (tests/unit/test_layers.py keeps that true).
"""
