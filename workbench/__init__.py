"""The tooling around the pipeline: the command line, the local stack and its sandbox, deploy and cost, the template
reader, verify, replay, soak, the declarations check, the course, analysis and plots. It imports `pipeline` (what the
Lambda functions run) and is never imported by it."""
