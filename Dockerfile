# The image of every service role (docker-compose.yml). CPU only: torch comes from PyTorch's
# CPU wheel index before anything that depends on it, so no CUDA wheels are pulled; the rest is
# installed from the project's lock file, as `make venv` does.
FROM python:3.11-slim
WORKDIR /opt/quantum-trader
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
RUN pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -c requirements.lock '.[train]'
ENV QT_HOME=/var/lib/quantum-trader
ENTRYPOINT ["quantum-trader"]
