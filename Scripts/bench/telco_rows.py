"""Writes a Telco-shaped CSV of N rows: the real file's rows resampled with a
fixed seed, numbers jittered, ids made unique. Used by the ingest benchmark."""
import csv, random, sys

source, rows, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(source, newline="") as f:
    reader = csv.reader(f)
    header = next(reader)
    data = list(reader)
rng = random.Random(7)
tenure, monthly, total = header.index("tenure"), header.index("MonthlyCharges"), header.index("TotalCharges")
with open(out, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(header)
    for i in range(rows):
        row = list(data[rng.randrange(len(data))])
        row[0] = "c%07d" % i
        row[tenure] = str(max(0, int(row[tenure]) + rng.randint(-2, 2)))
        row[monthly] = "%.2f" % (float(row[monthly]) * rng.uniform(0.9, 1.1))
        if row[total].strip():
            row[total] = "%.2f" % (float(row[total]) * rng.uniform(0.9, 1.1))
        w.writerow(row)
