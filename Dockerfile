# CSO Hub image: the web app (default command: `hub web`, gunicorn with the hub's settings, on :8000)
# and, with the command `hub worker`, the delivery worker. docker-compose.yml runs both with PostgreSQL.
# The installed wheel is the whole hub (templates, migrations, gunicorn.conf.py): no source tree.

# --- build: wheels for the hub and its dependencies (PyICU compiles against ICU) ---------------
FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libicu-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY federation ./federation
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: no compilers, a non-root user, data on a volume ----------------------------------
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libicu72 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hub \
 && useradd --system --uid 10001 --gid hub --home-dir /data --no-create-home hub \
 && mkdir -p /data/instance /data/media \
 && chown -R hub:hub /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels cso-hub && rm -rf /wheels
WORKDIR /data
ENV PYTHONUNBUFFERED=1 \
    HUB_INSTANCE_DIR=/data/instance \
    HUB_MEDIA_DIR=/data/media \
    HUB_SCHEME=https \
    WEB_CONCURRENCY=2
USER hub
VOLUME ["/data"]
EXPOSE 8000
# no client addresses in the access log (DESIGN.md: privacy by default); workers, threads,
# preloading and timeout come from the packaged hub/gunicorn.conf.py, which `hub web` names
CMD ["hub", "web", "--bind", "0.0.0.0:8000", \
     "--access-logfile", "-", "--access-logformat", "%(m)s %(U)s %(s)s %(b)s %(L)ss"]
