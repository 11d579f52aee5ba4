"""The reference's first example, on runstream: a Ridge model on the
diabetes data set, logged with ``experiment.start_logging()``, then the
alpha sweep of its second example run in this process.

Only the imports differ from the Azure ML original (and ``joblib`` replaces
the removed ``sklearn.externals.joblib``). Run ``runstream up`` first.
"""

import os

import joblib
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from runstream import Experiment, Workspace

ws = Workspace()

# -- option 1: start_logging --------------------------------------------
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, random_state=0
)
data = {
    "train": {"X": X_train, "y": y_train},
    "test": {"X": X_test, "y": y_test},
}

experiment = Experiment(workspace=ws, name="train-within-notebook")
run = experiment.start_logging()
run.log("alpha", 0.03)

regression_model = Ridge(alpha=0.03)
regression_model.fit(data["train"]["X"], data["train"]["y"])
preds = regression_model.predict(data["test"]["X"])

print("Mean Squared Error is", mean_squared_error(data["test"]["y"], preds))
run.log("mse", mean_squared_error(data["test"]["y"], preds))

model_file_name = "outputs/model.pkl"
joblib.dump(value=regression_model, filename=model_file_name)
run.upload_file(name=model_file_name, path_or_stream=model_file_name)
run.complete()

print("run id:", run.id)
print("metrics read back:", run.get_metrics())
print("files:", run.get_file_names())

# -- option 2's sweep, in this process ------------------------------------
sweep = Experiment(workspace=ws, name="train-on-local").start_logging()
for alpha in np.arange(0.0, 1.0, 0.05):
    reg = Ridge(alpha=alpha)
    reg.fit(data["train"]["X"], data["train"]["y"])
    mse = mean_squared_error(reg.predict(data["test"]["X"]), data["test"]["y"])
    sweep.log("alpha", alpha)
    sweep.log("mse", mse)
    model_file_name = "ridge_{0:.2f}.pkl".format(alpha)
    joblib.dump(value=reg, filename=model_file_name)
    sweep.upload_file(name=model_file_name, path_or_stream=model_file_name)
    os.remove(model_file_name)
    print("alpha is {0:.2f}, and mse is {1:0.2f}".format(alpha, mse))
sweep.complete()

metrics = sweep.get_metrics()
best_alpha = metrics["alpha"][int(np.argmin(metrics["mse"]))]
print("run id:", sweep.id)
print("alpha read back:", [round(a, 2) for a in metrics["alpha"]])
print("mse read back:", [round(m, 1) for m in metrics["mse"]])
print("best alpha:", round(best_alpha, 2))
