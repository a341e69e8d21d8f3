# Nachet backend: slim image, non-root user, tini as PID 1, data on a volume.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 \
    PORT=8080 NACHET_DATA_DIR=/data
WORKDIR /app

# tini: PID 1 that forwards SIGTERM to hypercorn and reaps the workers
RUN apt-get update && apt-get install -y --no-install-recommends tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install -r requirements.txt

RUN useradd --create-home --uid 10001 nachet && mkdir -p /data && chown nachet:nachet /data
COPY --chown=nachet:nachet . .
USER 10001
# the embedded PostgreSQL and the file blob store, when no external ones are configured
VOLUME ["/data"]

EXPOSE 8080
# the commit /version reports: docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) .
ARG GIT_COMMIT=""
ENV NACHET_GIT_COMMIT=$GIT_COMMIT
# liveness: /health; orchestrators should gate traffic on /ready (database, blobs, default pipeline)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['PORT'], timeout=4)"]
ENTRYPOINT ["tini", "--", "/app/docker-entrypoint.sh"]
