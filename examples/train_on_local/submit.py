"""The reference's second example on runstream: train.py (which imports
mylib.py) submitted with ScriptRunConfig on a user-managed environment.

Only the imports differ from the Azure ML original. Run ``runstream up``
and write ``runstream.json`` (``Workspace().write_config('.')``) first.
"""

from runstream import Environment, Experiment, ScriptRunConfig, Workspace

ws = Workspace.from_config()

# Editing a run configuration property on-fly.
user_managed_env = Environment("user-managed-env")

user_managed_env.python.user_managed_dependencies = True

# You can choose a specific Python environment by pointing to a Python path
# user_managed_env.python.interpreter_path = '/home/johndoe/miniconda3/envs/myenv/bin/python'

exp = Experiment(workspace=ws, name="train-on-local")
src = ScriptRunConfig(source_directory="./scripts", script="train.py")
src.run_config.environment = user_managed_env
run = exp.submit(src)

print(run.get_portal_url())
run.wait_for_completion(show_output=True)
print(run.get_metrics())
print(run.get_file_names())
print("run id:", run.id)
