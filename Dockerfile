# One image for the Locust master, its workers and the reference gateway.
# The base image is pinned by digest (python:3.11.13-slim-bookworm); change the tag and the
# digest together. Python packages are pinned by constraints.txt, as CI tests them.
FROM python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY loadgen ./loadgen
COPY configs ./configs
COPY locustfile.py ./
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin loadgen \
    && mkdir -p /app/results && chown loadgen:loadgen /app/results
# Not root: a non-root process still raises its open-files soft limit to the hard limit,
# which is all the workers need (docker run --ulimit nofile=..., compose ulimits:).
USER 10001:10001
ENTRYPOINT ["loadgen"]
