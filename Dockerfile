FROM python:3.11.13-slim

# Atlassian's pipes run as root in the step's container; the pipe writes to the
# mounted clone and shared storage, whose owner it cannot choose.
WORKDIR /

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY requirements.txt /requirements.txt
RUN pip install --no-cache-dir -r /requirements.txt

COPY pipe.yml README.md /
COPY pipe /pipe
# Bytecode at build time: a cold start does not pay for compiling the SDKs.
RUN python -m compileall -q /pipe /usr/local/lib/python3.11/site-packages

# By path, not `-m pipe`: Bitbucket runs pipes with the clone as the working
# directory, and a folder named pipe/ there must not shadow the package.
ENTRYPOINT ["python3", "/pipe/pipe.py"]
