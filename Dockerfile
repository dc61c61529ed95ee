# The triage service: `quayscan serve` with the torch-free serve extra and the shipped default model.
#
#   docker build -t quayscan .
#   docker run -p 8000:8000 -v quayscan-var:/srv/quayscan/var quayscan
#   docker exec -it <container> quayscan keys create --role scanner --name gate-1
#
# The database (SQLite) and the images live under /srv/quayscan/var, the default `var/` of `quayscan serve`
# relative to the working directory; mount a volume there, or point QUAYSCAN_DB_URL / QUAYSCAN_BLOBS_DIR
# at PostgreSQL and shared storage for several replicas. Inference uses the CPUs the process may run on
# (its affinity mask): limit a container with --cpuset-cpus, which it sees, rather than --cpus, which it
# does not.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cli/ cli/
COPY datasets/ datasets/
COPY model/ model/
COPY serve/ serve/
COPY training/ training/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Only the serve extra: onnxruntime, FastAPI, OpenCV (headless), SQLAlchemy... and no torch.
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir "$(ls /wheels/quayscan-*.whl)[serve]" && rm -rf /wheels

RUN useradd --system --create-home --home-dir /srv/quayscan --shell /usr/sbin/nologin --uid 10001 quayscan \
    && mkdir /srv/quayscan/var \
    && chown quayscan:quayscan /srv/quayscan/var
WORKDIR /srv/quayscan
# Created and owned by the user above before it is declared, so a new named volume starts writable.
VOLUME ["/srv/quayscan/var"]
USER quayscan

EXPOSE 8000
# The start period covers migrations and loading the model; /healthz needs neither the database nor the model.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('QUAYSCAN_PORT', '8000'), timeout=4)"]
CMD ["quayscan", "serve", "--host", "0.0.0.0"]
