# One image for every emulator. `docker compose up kie` (see docker-compose.yml), or by hand:
#   docker build -t provider-emulators .
#   docker run --rm -p 127.0.0.1:8801-8805:8801-8805 provider-emulators           # all five
#   docker run --rm -p 127.0.0.1:8802:8802 provider-emulators kie --host 0.0.0.0   # one
# The entry point is `emulators serve`: arguments are serve's (PROVIDER ..., --port, ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A system user that owns nothing but /data, where state files live (compose mounts a named
# volume there; a new volume takes the owner of the folder it is mounted over).
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin emulators \
 && mkdir /data && chown emulators:emulators /data

WORKDIR /app
# Dependencies in their own layer, rebuilt only when pyproject.toml changes. The install is
# editable because the package finds contracts/ and fixtures/ beside itself (/app).
COPY pyproject.toml README.md ./
RUN mkdir emulators && touch emulators/__init__.py \
 && pip install -e . \
 && rm -r emulators
COPY emulators ./emulators
COPY contracts ./contracts
COPY fixtures ./fixtures
RUN python -m compileall -q emulators

USER emulators
EXPOSE 8801 8802 8803 8804 8805
# JSON (exec) form: `emulators` is PID 1 and gets docker stop's SIGTERM itself (clean exit 0).
ENTRYPOINT ["emulators", "serve"]
# All five in one container. Inside a container the emulators must listen on every interface
# to be reached through a published port; publish on 127.0.0.1 to keep them off the network.
CMD ["--host", "0.0.0.0", "--state-file", "/data/all.db"]
