# One image for the Locust master, its workers and the reference gateway.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY loadgen ./loadgen
COPY configs ./configs
COPY locustfile.py ./
RUN pip install --no-cache-dir .
ENTRYPOINT ["loadgen"]
