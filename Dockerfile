# One image for the api, worker and migrate services of docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini schema.graphql ./
COPY analytics ./analytics
COPY api ./api
COPY workers ./workers
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home analytics
USER analytics
EXPOSE 8000
CMD ["analytics", "serve", "--host", "0.0.0.0", "--port", "8000"]
