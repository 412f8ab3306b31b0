"""Running the built functions as Lambda runs them: a python3.13 root filesystem (`root`), a sandboxed execution
environment per function under AWS's Runtime Interface Client (`environment`), the Lambda Runtime API it talks to
(`runtime_api`), and the record of the AWS calls each function makes (`observe`, `iam`)."""
