# coachbox: one container = web server + worker; everything that must survive lives in the /app/data volume, the
# generated signing key in the /app/secrets volume (never inside data/, so never in a backup; or set
# COACHBOX_SERVER_SECRET_KEY and leave that volume empty).
# Build: docker build -t coachbox .   Run: docker compose up -d   (see docker-compose.yml and README.md)

# ---- builder: a virtualenv with coachbox and its runtime dependencies (no test extras, no browsers) ----
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY coachbox ./coachbox
# A non-editable install: the final image needs no source tree besides what pip put in /opt/venv.
RUN /opt/venv/bin/pip install /src

# ---- final: slim runtime, non-root ----
FROM python:3.11-slim
# fonts-dejavu-core: Unicode glyphs for certificates (fpdf2 ships none); tini: forwards SIGTERM and reaps children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core=2.* tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin coachbox
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY coachbox.toml ./
COPY content ./content
# 0700: other users (and other containers' users sharing the volume) cannot read learners' data or the key. The
# process runs with umask 077 (coachbox sets it), so what it creates inside is 0600.
RUN mkdir -p /app/data /app/secrets && chown -R coachbox:coachbox /app/data /app/secrets \
    && chmod 0700 /app/data /app/secrets
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    COACHBOX_PATHS_DATA_DIR=/app/data \
    COACHBOX_SERVER_HOST=0.0.0.0
USER 10001:10001
VOLUME ["/app/data", "/app/secrets"]
EXPOSE 8000
# No curl in slim images: ask /healthz with the Python that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
# `coachbox run` initialises the volume on first start (folders, migrations, content import) and prints the
# one-time owner link to the log: `docker compose logs coachbox | grep admin/setup`.
CMD ["coachbox", "run", "--host", "0.0.0.0"]
