# One image for the api, worker and migrate services of docker-compose.yml. It talks to separate
# PostgreSQL and Redis servers, so the embedded ones (`analytics dev`, the tests) stay out of it.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY docker/requirements.py ./docker/
COPY analytics ./analytics
COPY api ./api
COPY cli ./cli
COPY workers ./workers
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && python docker/requirements.py pyproject.toml > /wheels/requirements.txt

FROM python:3.11-slim
COPY --from=build /wheels /wheels
# Export files (and anything else the processes keep) live under ANALYTICS_DATA_DIR, owned by the
# user the processes run as; docker-compose.yml mounts one volume there for the api and the worker.
RUN pip install --no-cache-dir -r /wheels/requirements.txt \
    && pip install --no-cache-dir --no-deps /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --create-home analytics \
    && install -d -o analytics -g analytics /var/lib/analytics
ENV ANALYTICS_DATA_DIR=/var/lib/analytics
USER analytics
WORKDIR /home/analytics
EXPOSE 8000
CMD ["analytics", "serve", "--host", "0.0.0.0", "--port", "8000"]
