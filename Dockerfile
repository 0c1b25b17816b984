# faceverdict: one image for every process of the scale-out stack (API or worker).
# Build: docker build -t faceverdict .   Run: see compose.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN useradd --system --create-home --uid 10001 faceverdict
WORKDIR /app

COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install '.[postgres,aws]'

USER faceverdict
ENV FACEVERDICT_DATA_DIR=/home/faceverdict/data
EXPOSE 8080
# The API; workers run the same image with `faceverdict worker`.
CMD ["faceverdict", "serve", "--host", "0.0.0.0", "--port", "8080"]
