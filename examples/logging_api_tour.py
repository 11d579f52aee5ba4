"""The reference's logging-API tour on runstream: a string, scalars, the
Fibonacci list, a Sigmoid scalar logged in a loop, a cosine wave logged row
by row, a sine wave logged as a table, a tanh plot as an image, rows of 15
columns, an uploaded file, then the run read back and tagged.

Only the imports differ from the Azure ML notebook. Run ``runstream up``
and write ``runstream.json`` (``Workspace().write_config('.')``) first.
"""

import os

import matplotlib

matplotlib.use("Agg")  # no display needed: the plot is only saved

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from runstream import Experiment, Run, Workspace  # noqa: E402

ws = Workspace.from_config()
experiment = Experiment(workspace=ws, name="logging-api-test")

# start logging for the run
run = experiment.start_logging()
run_id = run.id
scale_factor = 2
category = "Red"
print(run)

# log a string value
run.log(name="Category", value=category)

# log numerical values
run.log(name="scale factor", value=scale_factor)
run.log(name="Magic Number", value=42 * scale_factor)

fibonacci_values = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
scaled_values = (i * scale_factor for i in fibonacci_values)

# Log a list of values. Note this will generate a single-variable line chart.
run.log_list(name="Fibonacci", value=scaled_values)

for i in range(-10, 10):
    # log a metric value repeatedly, this will generate a single-variable
    # line chart.
    run.log(name="Sigmoid", value=1 / (1 + np.exp(-i)))

# create a dictionary to hold a table of values
sines = {}
sines["angle"] = []
sines["sine"] = []

for i in range(-10, 10):
    angle = i / 2.0 * scale_factor

    # log a 2 (or more) values as a metric repeatedly. This will generate a
    # 2-variable line chart if you have 2 numerical columns.
    run.log_row(name="Cosine Wave", angle=angle, cos=np.cos(angle))

    sines["angle"].append(angle)
    sines["sine"].append(np.sin(angle))

# log a dictionary as a table, this will generate a 2-variable chart if you
# have 2 numerical columns
run.log_table(name="Sine Wave", value=sines)

# Create a plot
angle = np.linspace(-3, 3, 50) * scale_factor
plt.plot(angle, np.tanh(angle), label="tanh")
plt.legend(fontsize=12)
plt.title("Hyperbolic Tangent", fontsize=16)
plt.grid(True)

# Log the plot to the run. To log an arbitrary image, use the form
# run.log_image(name, path='./image_path.png')
run.log_image(name="Hyperbolic Tangent", plot=plt)

for i in range(1, 1000):
    for metric_name in ["Accuracy", "Precision", "Recall"]:
        run.log_row(
            metric_name,
            "Example row for metric " + metric_name,
            **{
                "col" + str(c): int(np.random.randint(0, 100))
                for c in range(15)
            },
        )

file_name = "logging-api/myfile.txt"
os.makedirs("logging-api", exist_ok=True)
with open(file_name, "w") as f:
    f.write("This is an output file that will be uploaded.\n")

# Upload the file explicitly into artifacts
run.upload_file(name=file_name, path_or_stream=file_name)

run.complete()

fetched_run = Run(experiment, run_id)
print(fetched_run)
print(fetched_run.get_metrics())
print(fetched_run.get_metrics(name="scale factor"))
print(fetched_run.get_file_names())

os.makedirs("files", exist_ok=True)
for f in run.get_file_names():
    dest = os.path.join("files", f.split("/")[-1])
    print("Downloading file {} to {}...".format(f, dest))
    fetched_run.download_file(f, dest)

fetched_run.tag("My Favorite Run")
fetched_run.tag("Competition Rank", 1)
print(fetched_run.get_tags())
print("run id:", run_id)
