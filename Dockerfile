# LeadBridge production image: web (gunicorn), Celery worker and beat all run it.
# See docker-compose.yml for how they are wired to PostgreSQL and Redis.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LEADBRIDGE_DATA_DIR=/app/var

WORKDIR /app

# Dependencies first, read from pyproject.toml, so that a code change does not
# reinstall them (this layer is rebuilt only when pyproject.toml changes).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# Editable, so that settings' BASE_DIR (templates/, static/) stays /app.
RUN pip install --no-deps -e .

# Hashed, compressed static files for whitenoise. The key only lets settings
# load (they refuse DEBUG off without one); it is never used at run time.
RUN SECRET_KEY=collectstatic-build-only DEBUG=false python manage.py collectstatic --noinput

RUN useradd --create-home --uid 1000 leadbridge \
    && mkdir -p /app/var \
    && chown -R leadbridge:leadbridge /app/var
USER leadbridge

EXPOSE 8000
CMD ["gunicorn", "leadbridge.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-"]
