"""The baseline web app: a bare Flask app with the trivial endpoints the benchmarks compare to
(`gunicorn bench.trivial:app`, same gunicorn configuration as the hub)."""

from flask import Flask, request

app = Flask(__name__)


@app.get("/")
def hello():
    """A constant answer."""
    return "ok"


@app.post("/inbox")
def inbox():
    """Read the body and accept it, as an inbox does before any work."""
    request.get_data()
    return "", 202
