# One image for every callboard process; compose.yaml picks the subcommand.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
# One folder per layer (docs/architecture.md).
COPY core core
COPY base base
COPY streams streams
COPY producers producers
COPY wallboard wallboard
COPY alerts alerts
COPY review review
COPY callboard callboard
RUN pip install . && useradd --system --uid 10001 callboard
USER callboard
ENTRYPOINT ["callboard"]
