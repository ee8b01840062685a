# tripguard: the worker (`tripguard run`), topic admin and the review service (`tripguard serve`).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NUMBA_CACHE_DIR=/app/.numba-cache

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY tripguard ./tripguard
COPY kernels ./kernels
COPY data ./data
# the versions in uv.lock (hash-checked), then tripguard itself
RUN pip install uv==0.13.8 \
    && uv export --locked --no-emit-project --format requirements-txt -o /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && pip install --no-deps . \
    && pip uninstall -y uv && rm /tmp/requirements.txt \
    && useradd --uid 10001 --create-home tripguard \
    && mkdir -p /state /data "$NUMBA_CACHE_DIR" \
    && chown -R tripguard /state /data "$NUMBA_CACHE_DIR"

USER tripguard
# Compile the Numba kernels into the image's cache, so a worker joins its group without a
# cold compile (it logs the time it took: well under a second from this cache).
RUN python -m tripguard.runtime

EXPOSE 9464 8000
ENTRYPOINT ["tripguard"]
CMD ["run"]
