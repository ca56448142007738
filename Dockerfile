# One image for every callboard process; compose.yaml picks the subcommand.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY callboard callboard
COPY streams streams
COPY producers producers
COPY wallboard wallboard
COPY alerts alerts
RUN pip install . && useradd --system --uid 10001 callboard
USER callboard
ENTRYPOINT ["callboard"]
