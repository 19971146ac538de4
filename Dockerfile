# The production image: web (gunicorn), Celery worker and beat all run from it (docker-compose.yml
# picks the command). Settings come from the environment at run time; nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=crm.settings.production \
    VAR_DIR=/app/var

RUN groupadd --system --gid 1000 crm \
    && useradd --system --uid 1000 --gid crm --home-dir /app --shell /usr/sbin/nologin crm

WORKDIR /app

# Dependencies first, so code changes reuse this layer. psycopg[binary] brings its own libpq.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=crm:crm . .
RUN mkdir -p /app/var/media && chown crm:crm /app /app/var /app/var/media
USER crm

# Static files are collected into the image (served by WhiteNoise). Production settings refuse to
# load without a secret key and allowed hosts, so this step gets throwaway values that live only
# in this command, not in the image.
RUN SECRET_KEY=build-only-not-secret-collectstatic-placeholder-0123456789 \
    ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --no-input

EXPOSE 8000
CMD ["gunicorn", "crm.wsgi", "--bind=0.0.0.0:8000", "--access-logfile=-"]
