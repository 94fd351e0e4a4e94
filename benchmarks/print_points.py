"""Print N metric lines as fast as Python can: `python benchmarks/print_points.py N`.

Line i is `{"hbsite.metrics": {"v": i}, "step": i}`; the ingestion benchmark counts them.
"""

import sys

count = int(sys.argv[1])
write = sys.stdout.write
for i in range(count):
    write(f'{{"hbsite.metrics": {{"v": {i}}}, "step": {i}}}\n')
