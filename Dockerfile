# The engine's image: worker.py (default command) and starter.py, run from /app.
# Build: docker build -t lienthong:0.1.0 .   (docker compose up --build does it too)
#
# The build installs requirements.lock from the package index; the running container needs no
# internet (the catalog, Alembic migrations and the temporal CLI binary are all in the image).
FROM python:3.11.13-slim-bookworm

# LIENTHONG_DATA_DIR holds the rendered letters and the mail outbox (compose mounts a volume
# there); the registry itself is in PostgreSQL when DATABASE_URL is set.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LIENTHONG_DATA_DIR=/var/lib/lienthong

WORKDIR /app

# Letters (form 04 PDFs) are typeset in DejaVu Sans, which covers Vietnamese.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so editing the code does not reinstall them.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

RUN groupadd --system --gid 10001 lienthong \
    && useradd --system --uid 10001 --gid lienthong --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin lienthong \
    && install -d -o lienthong -g lienthong -m 0750 /var/lib/lienthong

# The code stays owned by root: the service user can read it, not change it.
COPY . .
RUN python -m compileall -q /app

USER lienthong:lienthong

# SIGTERM stops the worker gracefully (worker.py --grace); compose passes the task queue flags,
# e.g. ["python", "worker.py", "--agency", "tax"] or ["python", "starter.py", "db", "upgrade"].
STOPSIGNAL SIGTERM
CMD ["python", "worker.py"]
