# Custos, one image for every role (web, worker, beat, the one-shot migrate): docker-compose.yml
# says which command each runs. Two stages: the build tools and headers stay in the first.

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libmariadb-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir --upgrade pip
WORKDIR /src
# The dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml ./
RUN /venv/bin/pip install --no-cache-dir ".[mysql]"

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin custos \
 && mkdir -p /var/lib/custos/keys /var/lib/custos/var /tmp/prometheus \
 && chown -R custos:custos /var/lib/custos /tmp/prometheus \
 && chmod 0700 /var/lib/custos/keys
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    CUSTOS_VAR_DIR=/var/lib/custos/var \
    CUSTOS_KEY_DIR=/var/lib/custos/keys \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
WORKDIR /app
COPY manage.py pyproject.toml ./
COPY config ./config
COPY custos ./custos
COPY audit ./audit
COPY keys ./keys
COPY accounts ./accounts
COPY authz ./authz
COPY sessions_app ./sessions_app
COPY federation ./federation
COPY templates ./templates
# The console's static files are part of the image (whitenoise serves them from
# $CUSTOS_VAR_DIR/static); the secret here only lets settings load and stays out of the image.
RUN CUSTOS_SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input -v 0 \
 && chown -R custos:custos /var/lib/custos/var
USER custos
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
CMD ["gunicorn", "config.wsgi:application", "-c", "config/gunicorn.py", "--bind", "0.0.0.0:8000", \
     "--workers", "4", "--access-logfile", "-"]
