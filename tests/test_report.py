"""`logmemory report` over real logs of every format, the original tool's, and broken ones; the
records' label, host and batch ids; OOM-killed runs; -o DIR/; the Snakemake benchmark TSV."""

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import json_records, logmemory_command, logmemory_env
from logmemory import report, writer
from logmemory.record import BATCH_VARIABLES, Oom, ProcessRecord, Run, Tree
import test_oom
from test_oom import LIMIT

MiB = 1024
limited = test_oom.limited  # the fixture of a cgroup v1 memory limit, for a real OOM kill


def steps_of(lm, *args):
    """The report's steps as JSON, by step name."""
    r = lm("report", "--format", "json", *args)
    assert r.returncode == 0, r.stderr
    return {s["step"]: s for s in json.loads(r.stdout)}


def figure_of_text(record):
    """The figure the report must take from one text or legacy record, by its documented order."""
    for key in (rb"TreePeak", rb"TreeMaxVmHWM", rb"VmHWM", rb"MaxRSS"):
        m = re.search(rb"\n" + key + rb":\t *(\d+) kB", record)
        if m:
            return int(m.group(1))
    return None


def test_original_tools_records_are_read(original, memhog, lm, log):
    for mb in (20, 40):
        subprocess.run([original, "-o", str(log), memhog, "-m", str(mb)], check=True)
    (step,) = steps_of(lm, str(log)).values()
    assert step["step"] == "memhog" and step["runs"] == 2 and step["source"] == "VmHWM"
    hwm = [int(v) for v in re.findall(rb"VmHWM:\s+(\d+)", log.read_bytes())]
    assert step["max_kb"] == max(hwm) >= 40 * MiB
    # The original records no exit status nor time: not counted as failed, no time invented.
    assert step["failed"] == 0 and step["longest_s"] is None and step["total_s"] is None


def test_every_format_mixed_in_one_log(lm, log, memhog):
    for fmt in ("legacy", "text", "json"):
        assert lm("--format", fmt, "-o", str(log), memhog, "-m", "30").returncode == 0
    assert lm("-o", str(log), memhog, "-m", "10", "-e", "2").returncode == 2
    data = log.read_bytes()
    (step,) = steps_of(lm, str(log)).values()
    assert step["runs"] == 4 and step["failed"] == 1 and step["no_figure"] == 0
    # The legacy record has VmHWM only; the others the job's figures (TreePeak here, or the largest
    # process where no cgroup can be made).
    assert step["source"].split("+")[-1] == "VmHWM"
    texts = [r for r in data.split(b"\n\n") if r.startswith(b"Date")]
    text_figures = [figure_of_text(b"\n" + r) for r in texts]
    (rec,) = [json.loads(line) for line in data.splitlines() if line.startswith(b"{")]
    json_figure = rec["tree"]["peak_kb"] or rec["tree"]["max_vmhwm_kb"]
    assert step["max_kb"] == max(text_figures + [json_figure]) >= 30 * MiB
    # Times from the records that have them (not the legacy one), as they were written.
    elapsed = [float(x) for x in re.findall(rb"\nElapsed:\t([\d.]+) s", data)] + [rec["elapsed_s"]]
    assert len(elapsed) == 3
    assert step["longest_s"] == round(max(elapsed), 3)
    assert abs(step["total_s"] - sum(elapsed)) < 0.001


def test_truncated_binary_and_newer_records_are_skipped_and_counted(lm, tmp_path, log):
    lm("-o", str(log), "true")
    lm("-o", str(log), "--format", "json", "true")
    whole = log.read_bytes()
    cut = tmp_path / "cut.log"
    # A disk filled up in the middle of a record, then later runs appended again.
    cut.write_bytes(whole[:40] + whole + b'{"date": "x", "cmd": ["a"], "gpu_kb": 1}\n' + whole[:60])
    # Cut in its Date line, the next record right after: only the first line holds both.
    cut2 = tmp_path / "cut2.log"
    cut2.write_bytes(whole[:20] + whole)
    r = lm("report", str(cut2))
    assert r.stderr.decode() == (
        f"logmemory: report: skipped 1 unreadable record ({cut2}:1: truncated record)\n")
    assert steps_of(lm, str(cut2))["true"]["runs"] == 2
    r = lm("report", str(cut))
    assert r.returncode == 0
    assert r.stderr.decode() == (
        f"logmemory: report: skipped 3 unreadable records ({cut}:1: truncated record, "
        f"{cut}:17: unknown key 'gpu_kb', {cut}:18: truncated record)\n")
    assert steps_of(lm, str(cut))["true"]["runs"] == 2
    binary = tmp_path / "binary"
    binary.write_bytes(bytes(range(256)) * 64)
    r = lm("report", str(binary))
    assert r.returncode == 1 and r.stdout == b""
    assert b"report: no readable record found" in r.stderr
    assert b"skipped 1 unreadable record (" in r.stderr


def test_gzip_stdin_and_many_files(lm, tmp_path, log):
    lm("-o", str(log), "--label", "a", "true")
    lm("-o", str(log), "--label", "b", "--format", "json", "true")
    gz = tmp_path / "old.log.gz"
    # Two gzip members, as `cat x.gz y.gz` or gzip -a leave them.
    gz.write_bytes(gzip.compress(log.read_bytes()) + gzip.compress(log.read_bytes()))
    plain = tmp_path / "plain.log"
    plain.write_bytes(log.read_bytes())
    r = lm("report", "--format", "json", str(gz), "-", input=log.read_bytes())
    steps = {s["step"]: s["runs"] for s in json.loads(r.stdout)}
    assert r.returncode == 0 and steps == {"a": 3, "b": 3}
    assert steps_of(lm, str(plain), str(gz))["a"]["runs"] == 3


def test_non_utf8_arguments_group_alike_in_text_and_json(lm, log):
    for fmt in ("text", "json"):
        lm("--format", fmt, "-o", str(log), b"echo", b"caf\xe9", stdout=subprocess.DEVNULL)
    assert steps_of(lm, "--by", "command", str(log))["echo caf\\xe9"]["runs"] == 2


def test_grouping_by_label_else_program_through_shells_and_interpreters(lm, log, tmp_path):
    script = tmp_path / "align.py"
    script.write_text("b = b'x' * (20 << 20)\n")
    py = sys.executable
    for fmt in ("text", "json"):
        lm("--format", fmt, "-o", str(log), "sh", "-c", f"exec {py} -X utf8 {script} --fast")
        lm("--format", fmt, "-o", str(log), "bash", "-ec", f"X=1 {py} {script}")
        lm("--format", fmt, "-o", str(log), "--label", "sorting", py, "-c", "pass")
    steps = steps_of(lm, str(log))
    assert {k: s["runs"] for k, s in steps.items()} == {"align.py": 4, "sorting": 2}
    assert list(steps) == ["align.py", "sorting"]  # largest first
    assert steps["align.py"]["max_kb"] >= 20 * MiB
    assert {k: s["runs"] for k, s in steps_of(lm, "--by", "program", str(log)).items()} == {
        "align.py": 4, f"{os.path.basename(py)} -c": 2}


@pytest.mark.parametrize("argv, program", [
    (["/usr/bin/samtools", "sort", "x.bam"], "samtools"),
    (["python3.11", "-u", "-W", "ignore", "/p/run.py", "a"], "run.py"),
    (["python", "-m", "pytest", "-q"], "pytest"),
    (["perl", "-Ilib", "bin/tool.pl"], "tool.pl"),
    (["Rscript", "--vanilla", "plot.R"], "plot.R"),
    (["java", "-Xmx4g", "-jar", "/opt/picard.jar", "MarkDuplicates"], "picard.jar"),
    (["java", "-cp", "a.jar", "org.Main"], "org.Main"),
    (["sh", "-c", "env A=1 exec Rscript s.R"], "s.R"),
    (["env", "-i", "A=1", "nice", "-n", "5", "timeout", "-s", "KILL", "60", "samtools"], "samtools"),
    (["/usr/bin/time", "-f", "%M", "-o", "t.txt", "bwa", "mem"], "bwa"),
    (["bash", "-o", "pipefail", "-c", "bwa mem ref.fa | samtools view"], "bwa"),
    (["sh", "-c", "python3", "-c", "x"], "python3 -c"),  # the text record of sh -c "python3 -c x"
    (["bash", "run.sh", "x"], "run.sh"),
    (["sh"], "sh"),
    (["perl", "-e", "1"], "perl -e"),
    ([], "?"),
])
def test_program_of_a_command_line(argv, program):
    assert report.program(argv) == program


@pytest.mark.parametrize("max_kb, headroom, slurm, snakemake, nextflow", [
    # 1000 kB + 20 % = 1,228,800 bytes: 1.17 MiB -> 2 MiB; 1.23 MB -> 2 MB.
    (1000, 20, "--mem=2M", "mem_mb=2", "memory '2 MB'"),
    # Exactly 1 GiB: Slurm and Nextflow say G; Snakemake's MB are 10^6 bytes.
    (1048576, 0, "--mem=1G", "mem_mb=1074", "memory '1 GB'"),
    # One kB more rounds up to the next MiB.
    (1048577, 0, "--mem=1025M", "mem_mb=1074", "memory '1025 MB'"),
    # 50 GB job, 25 %: 65,536,000 kB -> 64,000 MiB exactly; 67,108.864 MB -> 67,109.
    (52428800, 25, "--mem=64000M", "mem_mb=67109", "memory '64000 MB'"),
])
def test_recommendation_rounds_up_per_scheduler(max_kb, headroom, slurm, snakemake, nextflow):
    r = report.recommend(max_kb, headroom)
    assert (r["slurm"], r["snakemake"], r["nextflow"]) == (slurm, snakemake, nextflow)
    assert r["request_bytes"] >= max_kb * 1024 * (100 + headroom) / 100


def test_percentiles_are_measured_figures_nearest_rank(tmp_path, lm):
    log = tmp_path / "synthetic.log"
    # Twenty runs of one step whose VmHWM is 1..20 MiB (records as the original tool writes them).
    log.write_bytes(b"".join(
        b"Date: Mon Feb 11 21:17:55 2013\nCmd:  step\nVmPeak:\t%8d kB\nVmHWM:\t%8d kB\n\n"
        % (i * MiB, i * MiB) for i in range(20, 0, -1)))
    s = steps_of(lm, "--headroom", "50", str(log))["step"]
    assert (s["max_kb"], s["median_kb"], s["p95_kb"]) == (20 * MiB, 10 * MiB, 19 * MiB)
    assert s["slurm"] == "--mem=30M"


def test_output_formats(lm, log, memhog):
    lm("-o", str(log), "--label", "big", memhog, "-m", "40")
    lm("-o", str(log), "--label", "small", memhog, "-m", "4")
    table = lm("report", str(log)).stdout.decode().splitlines()
    assert table[0].split()[:3] == ["step", "runs", "failed"]
    assert table[1].startswith("big ") and table[1].endswith("#" * report.BAR)
    assert table[2].startswith("small ") and 0 < table[2].count("#") < report.BAR // 2
    tsv = lm("report", "--format", "tsv", str(log)).stdout.decode().splitlines()
    header = tsv[0].split("\t")
    assert [dict(zip(header, row.split("\t")))["step"] for row in tsv[1:]] == ["big", "small"]
    md = lm("report", "--format", "markdown", str(log)).stdout.decode().splitlines()
    assert md[0].startswith("| step | runs |") and md[1].startswith("|---|--:|")
    assert md[2].startswith("| big |")


def test_host_and_batch_ids_in_records_and_report(lm, tmp_path):
    log = tmp_path / "m.log"
    env = dict(logmemory_env(), SLURM_JOB_ID="4242", SLURM_STEP_ID="0", SLURM_ARRAY_TASK_ID="7",
               JOB_ID="9", LSB_JOBID="13")  # JOB_ID without SGE_ROOT is not Grid Engine's
    lm("-o", str(log), "true", env=env)
    lm("-o", str(log), "--format", "json", "true", env=env)
    lm("-o", str(log), "true")
    host = os.uname().nodename
    text = log.read_bytes().split(b"\n\n")[0]
    assert f"\nHost:\t{host}\n".encode() in text
    assert b"\nBatch:\tSLURM_JOB_ID=4242 SLURM_STEP_ID=0 SLURM_ARRAY_TASK_ID=7 LSB_JOBID=13" in text
    rec = [json.loads(line) for line in log.read_bytes().splitlines() if line.startswith(b"{")][0]
    assert rec["host"] == host and rec["label"] is None
    assert rec["batch"] == {"SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0",
                            "SLURM_ARRAY_TASK_ID": "7", "LSB_JOBID": "13"}
    # An array task id without its array's job id names no array task.
    assert {k: s["runs"] for k, s in steps_of(lm, "--by", "job", str(log)).items()} == {
        "4242.0": 2, "?": 1}
    assert steps_of(lm, "--by", "host", str(log))[host]["runs"] == 3
    assert steps_of(lm, "--where", "SLURM_ARRAY_TASK_ID=7", str(log))["true"]["runs"] == 2
    r = lm("report", "--where", f"host={host}", "--where", "label=x", str(log))
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr == b"logmemory: report: no record matches --where\n"


def test_label_is_in_text_and_json_and_legacy_stays_the_original(lm, tmp_path):
    text, js, legacy = (tmp_path / n for n in ("t.log", "j.log", "l.log"))
    lm("-o", str(text), "--label", "step one", "true")
    lm("-o", str(js), "--format", "json", "--label", "step one", "true")
    lm("-o", str(legacy), "--format", "legacy", "--label", "step one", "true")
    assert b"\nLabel:\tstep one\n" in text.read_bytes()
    assert json_records(js)[0]["label"] == "step one"
    assert [line.split(b":")[0] for line in legacy.read_bytes().splitlines()] == [
        b"Date", b"Cmd", b"VmPeak", b"VmHWM", b""]
    for bad in ("", "a\nb", "a\tb"):
        r = lm("-o", str(text), "--label", bad, "true")
        assert r.returncode == 125 and b"--label takes a name of printable characters" in r.stderr


def test_every_key_the_writer_writes_is_read_back(tmp_path):
    tree = Tree(processes=2, threads=3, max_vmhwm_kb=900, max_vmhwm_pid=8, max_vmhwm_cmd=(b"x",),
                peak_kb=None, peak_source=None, unmeasured={"peak_kb": "no cgroup"})
    run = Run(argv=(b"ls", b"-l"), ended=time.localtime(), wait_status=256, pid=7,
              vmpeak_line=b"VmPeak:\t    5004 kB\n", vmhwm_line=b"VmHWM:\t    1284 kB\n",
              vmpeak_kb=5004, vmhwm_kb=1284, maxrss_kb=1300, maxrss_floor_kb=10, elapsed_s=1.5,
              user_s=0.1, sys_s=0.2, tree=tree, label="l", host="h", batch={"PBS_JOBID": "1.s"})
    log = tmp_path / "all.log"
    log.write_bytes(writer.render(run, "text", per_process=True) + writer.render(run, "json"))
    steps, runs, bad, _places = report.summarize([str(log)])
    assert (runs, bad) == (2, 0)
    assert steps[0]["max_kb"] == 900 and steps[0]["failed"] == 2 and steps[0]["step"] == "l"


def test_directory_of_200_concurrent_runs(lm_cmd, lm, tmp_path):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    procs = [subprocess.Popen([*lm_cmd, "-o", f"{logdir}/", "--label", f"run{i}",
                               "sh", "-c", f"exit {i % 3}"], env=logmemory_env())
             for i in range(200)]
    assert sorted(p.wait(timeout=600) for p in procs) == sorted(i % 3 for i in range(200))
    names = os.listdir(logdir)
    assert len(names) == 200 and all(n.endswith(".log") for n in names)
    steps = steps_of(lm, str(logdir))
    assert sorted(steps) == sorted(f"run{i}" for i in range(200))
    assert all(s["runs"] == 1 and s["failed"] == (int(k[3:]) % 3 != 0) for k, s in steps.items())


def test_log_directory_that_cannot_be_written_is_ours_125(lm):
    # /proc/self/ is a directory where not even root can create a file.
    r = lm("-o", "/proc/self/", "sh", "-c", "echo ran")
    assert r.returncode == 125 and r.stdout == b""
    assert r.stderr.startswith(b"logmemory: cannot create a log file in '/proc/self/': ")


# Snakemake's own columns and units, from snakemake/benchmark.py (BenchmarkRecord.get_header and
# to_tsv): seconds with 4 decimals, h:m:s, memory in MiB (bytes / 1024 / 1024) with 2 decimals,
# mean_load in percent, cpu_time in seconds; "NA" where nothing was collected.
SNAKEMAKE_COLUMNS = ["s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out",
                     "mean_load", "cpu_time"]


def test_snakemake_benchmark_tsv(lm, tmp_path, memhog):
    bench = tmp_path / "bench.tsv"
    jlog = tmp_path / "j.log"
    for _ in range(2):
        assert lm("--format", "snakemake", "-o", str(bench), "--record", str(jlog),
                  memhog, "-m", "50", "-w", "0.3").returncode == 0
    lines = bench.read_text().splitlines()
    assert lines[0].split("\t") == SNAKEMAKE_COLUMNS and len(lines) == 3
    row = dict(zip(SNAKEMAKE_COLUMNS, lines[2].split("\t")))
    rec = json_records(jlog)[0]  # the last run's record, the same run as the last row
    assert row["s"] == f"{rec['elapsed_s']:.4f}" and float(row["s"]) >= 0.3
    assert re.fullmatch(r"0:00:0\d", row["h:m:s"])
    need = rec["tree"]["peak_kb"] or rec["tree"]["max_vmhwm_kb"]
    assert row["max_rss"] == f"{need / 1024:.2f}" and float(row["max_rss"]) >= 50
    assert row["max_vms"] == f"{rec['vmpeak_kb'] / 1024:.2f}"  # one process: its VmPeak
    assert [row[c] for c in ("max_uss", "max_pss", "io_in", "io_out")] == ["NA"] * 4
    cpu = rec["user_s"] + rec["sys_s"]
    assert row["cpu_time"] == f"{cpu:.2f}"
    assert row["mean_load"] == f"{100 * cpu / rec['elapsed_s']:.2f}"


def test_snakemake_vms_of_a_tree_is_na(lm, tmp_path):
    bench = tmp_path / "bench.tsv"
    lm("--format", "snakemake", "-o", str(bench), "sh", "-c", "/bin/true; /bin/true")
    assert bench.read_text().splitlines()[1].split("\t")[3] == "NA"


def test_a_program_called_report_still_runs(lm, tmp_path, log):
    prog = tmp_path / "report"
    prog.write_text("#!/bin/sh\nexit 7\n")
    prog.chmod(0o755)
    env = dict(logmemory_env(), PATH=f"{tmp_path}:{os.environ['PATH']}")
    assert lm("-o", str(log), "report", "x", env=env).returncode == 7
    assert b"\nCmd:  report x\n" in log.read_bytes()


def test_report_usage_errors_are_125(lm, log):
    log.write_bytes(b"")
    for args, message in [
        ([], "report: no LOG given (use - for standard input)"),
        (["--by", "user", str(log)], "report: --by takes label, program, command, host, job, "
                                     "not 'user'"),
        (["--headroom", "lots", str(log)], "report: --headroom takes a whole percentage, "
                                           "not 'lots'"),
        (["--format", "xml", str(log)], "report: unknown format 'xml' "
                                        "(table, tsv, json, markdown)"),
        (["--where", "x", str(log)], "report: --where takes KEY=VALUE, not 'x'"),
        (["--nope", str(log)], "report: unrecognized option '--nope'"),
    ]:
        r = lm("report", *args)
        assert r.returncode == 125 and r.stdout == b""
        assert r.stderr.decode().splitlines() == [
            f"logmemory: {message}", "Try 'logmemory report --help' for more information."]
    r = lm("report", str(log) + ".missing")
    assert r.returncode == 125 and b"cannot read" in r.stderr
    assert lm("report", str(log)).returncode == 1  # empty: nothing to summarize
    r = lm("report", "--help")
    assert r.returncode == 0 and r.stdout.startswith(b"Usage: logmemory report")


def test_measuring_does_not_import_the_report(tmp_path):
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "logmemory",
                        "-o", str(tmp_path / "L"), "true"], env=logmemory_env(),
                       stderr=subprocess.PIPE, check=True)
    imported = {line.split("|")[-1].strip() for line in r.stderr.decode().splitlines()}
    assert "logmemory.cli" in imported and "logmemory.report" not in imported


def test_fast_and_whole_parsers_agree(lm, tmp_path):
    """The one-regex readers of text and JSON records against the line-by-line and json.loads
    ones, on real records of every kind; then on a JSON record with its keys in another order."""
    log = tmp_path / "m.log"
    env = dict(logmemory_env(), SLURM_JOB_ID="5", PBS_JOBID="6.srv")
    for fmt in ("text", "json"):
        lm("--format", fmt, "-o", str(log), "--label", 'a "q" \\ b', "true", env=env)
        lm("--format", fmt, "-o", str(log), "--per-process", b"sh", b"-c", b"kill -TERM $$ # \xe9")
        lm("--format", fmt, "--no-trace", "-o", str(log), "sh", "-c", "/bin/true; exit 4")
        lm("--format", fmt, "-o", str(log), "--label", "plain", "sh", "-c", "/bin/true")
    fields = ("argv", "label", "host", "batch", "figure", "source", "failed", "elapsed",
              "oom_kills", "oom_limit_kb")
    data = log.read_bytes()
    texts = [p for p in data.split(b"\n\n") if p.startswith(b"Date")]
    jsons = [line for line in data.splitlines() if line.startswith(b"{")]
    assert len(texts) == len(jsons) == 4
    # The OOM report's line and keys, of every kind (no cgroup to make one under here).
    ooms = [bwa_run(80000, oom) for oom in OOMS.values()]
    ooms.append(ooms[0].replace(tree=ooms[0].tree.replace(peak_source="sampled", sample_ms=10)))
    texts += [writer.render(run, "text")[:-2] for run in ooms]
    jsons += [writer.render(run, "json")[:-1] for run in ooms]
    read = [(r.oom_kills, r.oom_limit_kb) for r in map(report.parse_paragraph, texts[4:])]
    assert read == [(1, LIMIT_KB), (1, None), (0, LIMIT_KB), (0, None), (1, LIMIT_KB)]
    assert read == [(r.oom_kills, r.oom_limit_kb) for r in map(report.parse_json_line, jsons[4:])]
    for fast, whole, records in ((report.parse_paragraph, report.parse_text, texts),
                                 (report.parse_json_line, report.parse_json, jsons)):
        for rec in records:
            a = fast(rec)
            b = whole(rec.split(b"\n") if whole is report.parse_text else rec)
            assert [report.argv(a)] + [getattr(a, f) for f in fields[1:]] == \
                [report.argv(b)] + [getattr(b, f) for f in fields[1:]]
    assert all(report._TEXT.fullmatch(p) for p in texts)
    assert all(report._JSON.match(line) for line in jsons)
    d = json.loads(jsons[0])
    reordered = json.dumps(dict(reversed(d.items()))).encode()
    assert report.parse_json_line(reordered) is None
    log.write_bytes(reordered + b"\n")
    steps, runs, bad, _places = report.summarize([str(log)])
    assert (runs, bad, steps[0]["step"]) == (1, 0, 'a "q" \\ b')


def test_megabytes_without_a_blank_line(tmp_path):
    """JSON lines only (the reader then cuts at line ends), a record larger than its buffer, and a
    binary file of megabytes: all read, or counted once."""
    procs = tuple(ProcessRecord(pid=i, ppid=1, cmd=(b"worker", b"%d" % i), vmhwm_kb=i, vmpeak_kb=i,
                                maxrss_kb=i, wait_status=0, threads=1, start_s=0.0, end_s=1.0)
                  for i in range(20000))
    tree = Tree(processes=20000, threads=20000, max_vmhwm_kb=19999, max_vmhwm_pid=19999,
                max_vmhwm_cmd=(b"worker",), peak_kb=30000, peak_source="cgroup1")
    small = Run(argv=(b"step",), ended=time.localtime(), wait_status=0, pid=2, vmhwm_kb=10,
                maxrss_kb=10, elapsed_s=1.0, user_s=0.1, sys_s=0.1, tree=tree.replace(peak_kb=None),
                label="small")
    big = small.replace(processes=procs, tree=tree, label="big")
    log = tmp_path / "jsonl.log"
    log.write_bytes(writer.render(small, "json") * 3000 + writer.render(big, "json")
                    + writer.render(small, "json"))
    assert len(writer.render(big, "json")) > report.CARRY
    steps, runs, bad, _places = report.summarize([str(log)])
    assert (runs, bad) == (3002, 0)
    assert {s["step"]: (s["runs"], s["max_kb"]) for s in steps} == {"big": (1, 30000),
                                                                    "small": (3001, 19999)}
    binary = tmp_path / "binary"
    binary.write_bytes(os.urandom(3 << 20))
    assert report.summarize([str(binary)])[1:3] == (0, 1)


def test_tsv_cells_hold_no_tab_or_line_end(lm, tmp_path):
    log = tmp_path / "tab.log"
    rec = Run(argv=(b"a\tb\nc", b"x"), ended=time.localtime(), wait_status=0, vmhwm_kb=5)
    log.write_bytes(writer.render(rec, "json"))
    rows = lm("report", "--format", "tsv", str(log)).stdout.decode().split("\n")
    assert rows[1].split("\t")[0] == "a\\tb\\nc" and len(rows[1].split("\t")) == len(
        rows[0].split("\t")) and rows[2:] == [""]


def test_a_reader_that_goes_away_ends_it_quietly(lm_cmd, tmp_path):
    log = tmp_path / "many.log"
    log.write_bytes(b"".join(b"Date: Mon Feb 11 21:17:55 2013\nCmd:  step%d\nVmHWM:\t%8d kB\n\n"
                             % (i, i) for i in range(1, 5001)))
    p = subprocess.Popen([*lm_cmd, "report", str(log)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=logmemory_env())
    assert p.stdout.read(100).startswith(b"step ")
    p.stdout.close()  # as `| head -1` does
    assert p.wait(timeout=60) == -signal.SIGPIPE
    assert p.stderr.read() == b""


@pytest.mark.parametrize("change", [
    {"vmhwm_kb": 1 << 70}, {"vmhwm_kb": -5}, {"vmhwm_kb": "12"}, {"cmd": "ls"}, {"cmd": [1]},
    {"label": 3}, {"batch": {"SLURM_JOB_ID": 1}}, {"elapsed_s": "soon"},
    {"tree": {"oom": {"kills": "1", "limit_kb": None}}},
    {"tree": {"oom": {"kills": -1, "limit_kb": None}}},
    {"tree": {"oom": {"kills": 1, "limit_kb": 1 << 70}}}, {"tree": {"oom": {"kills": 1}}},
])
def test_json_records_with_values_of_the_wrong_kind_are_skipped(tmp_path, change):
    good = {"date": "2026-12-01T00:00:00+00:00", "cmd": ["ls"], "label": None, "host": "h",
            "batch": {}, "pid": 1, "exit_code": 0, "signal": None, "core_dumped": False,
            "vmpeak_kb": 9, "vmhwm_kb": 8, "maxrss_kb": 7, "elapsed_s": 1.0, "user_s": 0.1,
            "sys_s": 0.1, "unmeasured": {}}
    log = tmp_path / "m.log"
    log.write_text(json.dumps(good) + "\n" + json.dumps({**good, **change}) + "\n")
    _steps, runs, bad, places = report.summarize([str(log)])
    assert (runs, bad, places[0].place[1]) == (1, 1, 2)


@pytest.mark.parametrize("line", [
    b"VmHWM:\t99999999999999999999 kB", b"OOMKills:\t-1", b"OOMKills:\tmany",
    b"OOMKills:\t1 (limit 99999999999999999999 kB of /x)", b"OOMKills:\t1 (limit x kB of /x)",
])
def test_text_values_too_large_or_not_numbers_are_skipped(tmp_path, line):
    log = tmp_path / "m.log"
    log.write_bytes(b"Date: Mon Feb 11 21:17:55 2013\nCmd:  x\n%s\n\n" % line)
    assert report.summarize([str(log)])[1:3] == (0, 1)


def test_records_with_oom_kills_and_sampled_peaks_are_read_back(tmp_path):
    """The lines and keys of the OOM report and of --sample, in both formats."""
    from logmemory.record import Oom
    tree = Tree(processes=1, threads=1, max_vmhwm_kb=900, max_vmhwm_pid=8, max_vmhwm_cmd=(b"x",),
                peak_kb=800, peak_source="sampled", unmeasured={}, sample_ms=10,
                oom=Oom(kills=1, limit_bytes=100000000, cgroup="/sys/fs/cgroup/memory/j",
                        cgroup_kills=None))
    run = Run(argv=(b"x",), ended=time.localtime(), wait_status=9, pid=8, elapsed_s=0.1,
              tree=tree, host="h")
    text = writer.render(run, "text")
    assert b"\nOOMKills:\t1 " in text and b"sampled PSS every 10 ms" in text
    log = tmp_path / "all.log"
    log.write_bytes(text + writer.render(run, "json"))
    steps, runs, bad, _places = report.summarize([str(log)])
    assert (runs, bad) == (2, 0)
    assert steps[0]["max_kb"] == 800
    assert steps[0]["oom_killed"] == 2 and steps[0]["needs_more_than_kb"] == 100000000 // 1024


# OOM-killed runs. The kernel's limit file says 100,000,000 bytes: 97,656 kB in the record.
LIMIT_KB = LIMIT // 1024
CGROUP = "/sys/fs/cgroup/memory/slurm/uid_0/job_29"
OOMS = {"killed": Oom(kills=1, limit_bytes=LIMIT, cgroup=CGROUP, cgroup_kills=None),
        "killed, limit unknown": Oom(kills=1, limit_bytes=None, cgroup=None, cgroup_kills=None),
        "others killed": Oom(kills=0, limit_bytes=LIMIT, cgroup=CGROUP, cgroup_kills=2),
        "not killed": Oom(kills=0, limit_bytes=None, cgroup=None, cgroup_kills=None)}
SIGKILL, EXIT_0 = 9, 0


def bwa_run(kb, oom, status=SIGKILL, label="bwa"):
    """A run's record as logmemory writes it under a job cgroup: its peak kb, what the OOM killer
    did (oom None: no cgroup counted kills), how it ended."""
    tree = Tree(processes=1, threads=1, max_vmhwm_kb=kb, max_vmhwm_pid=8, max_vmhwm_cmd=(b"bwa",),
                peak_kb=kb, peak_source="cgroup1", oom=oom,
                unmeasured={} if oom else {"oom": "no job cgroup to count kills in"})
    return Run(argv=(b"bwa", b"mem"), ended=time.localtime(), wait_status=status, pid=8,
               vmpeak_kb=kb, vmhwm_kb=kb, maxrss_kb=kb, elapsed_s=2.0, user_s=1.5, sys_s=0.25,
               tree=tree, label=label, host="node1", batch={"SLURM_JOB_ID": "29"})


def write_runs(log, runs):
    """Each run twice, as a text and as a JSON record."""
    log.write_bytes(b"".join(writer.render(r, fmt) for r in runs for fmt in ("text", "json")))


@pytest.mark.parametrize("runs, headroom, slurm, snakemake, more_than", [
    # Killed at the limit: above it plus 20 %, (97,656 + 1) kB x 1.2 = 114.4 MiB, 120.0 MB; the
    # killed run's own figure plus 20 % (93.8 MiB) would be below the limit it was killed at.
    ([(80000, OOMS["killed"], SIGKILL)], 20, "--mem=115M", "mem_mb=121", LIMIT_KB),
    # No headroom: still above the limit, by the 1 kB more rounded up.
    ([(80000, OOMS["killed"], SIGKILL)], 0, "--mem=96M", "mem_mb=101", LIMIT_KB),
    # A run that was not killed and needed more: its figure plus 20 %, 150,000 kB -> 175.8 MiB.
    ([(80000, OOMS["killed"], SIGKILL), (150000, OOMS["not killed"], EXIT_0)], 20,
     "--mem=176M", "mem_mb=185", LIMIT_KB),
    # Killed under two limits: the larger, 200,000,000 bytes (195,312 kB), plus 20 %.
    ([(80000, OOMS["killed"], SIGKILL),
      (160000, OOMS["killed"].replace(limit_bytes=2 * LIMIT), SIGKILL)], 20, "--mem=229M",
     "mem_mb=241", 2 * LIMIT_KB),
    # The limit is unknown: above the killed run's own peak, 61,440 kB (60 MiB) here.
    ([(61440, OOMS["killed, limit unknown"], SIGKILL)], 0, "--mem=61M", "mem_mb=63", 61440),
])
def test_an_oom_killed_step_gets_a_lower_bound_above_its_limit(log, runs, headroom, slurm,
                                                               snakemake, more_than):
    write_runs(log, [bwa_run(kb, oom, status) for kb, oom, status in runs])
    (s,) = report.summarize([str(log)], headroom=headroom)[0]
    killed = 2 * sum(oom.kills > 0 for _kb, oom, _status in runs)
    assert (s["slurm"], s["snakemake"], s["needs_more_than_kb"]) == (slurm, snakemake, more_than)
    assert s["lower_bound"] and s["oom_killed"] == killed and s["runs"] == 2 * len(runs)
    assert s["request_bytes"] > more_than * 1024


@pytest.mark.parametrize("oom, status", [
    (OOMS["others killed"], EXIT_0),  # the enclosing limit was hit, its other processes killed
    (OOMS["not killed"], EXIT_0),
    (None, SIGKILL),  # a SIGKILL where no cgroup counted kills: no proof of an OOM
    (OOMS["not killed"], SIGKILL),  # a SIGKILL the OOM killer did not send
])
def test_a_run_the_oom_killer_did_not_kill_is_measured_as_any(log, oom, status):
    write_runs(log, [bwa_run(50000, oom, status)])
    (s,) = report.summarize([str(log)])[0]
    # 50,000 kB plus 20 %: 58.6 MiB.
    assert (s["slurm"], s["lower_bound"], s["oom_killed"], s["needs_more_than_kb"]) == (
        "--mem=59M", False, 0, None)


REPORTS = {
    "table": """\
step  runs  failed  OOM killed  no figure  figure    max MiB  median MiB  p95 MiB  longest s  total s  Slurm          Snakemake      Nextflow            need
bwa      4       2           2          0  TreePeak     78.1        48.8     78.1        2.0      8.0  >= --mem=115M  >= mem_mb=121  >= memory '115 MB'  ####################
sort     1       0           0          0  TreePeak     39.1        39.1     39.1        2.0      2.0  --mem=47M      mem_mb=50      memory '47 MB'      ##########

bwa: 2 runs killed by the OOM killer, so it needs more than 95.4 MiB: its request (>=) is a lower bound
""",
    "markdown": """\
| step | runs | failed | OOM killed | no figure | figure | max MiB | median MiB | p95 MiB | longest s | total s | Slurm | Snakemake | Nextflow | need |
|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|---|---|---|---|
| bwa | 4 | 2 | 2 | 0 | TreePeak | 78.1 | 48.8 | 78.1 | 2.0 | 8.0 | >= --mem=115M | >= mem_mb=121 | >= memory '115 MB' | `####################` |
| sort | 1 | 0 | 0 | 0 | TreePeak | 39.1 | 39.1 | 39.1 | 2.0 | 2.0 | --mem=47M | mem_mb=50 | memory '47 MB' | `##########` |

- bwa: 2 runs killed by the OOM killer, so it needs more than 95.4 MiB: its request (>=) is a lower bound
""",
    "tsv": """\
step\truns\tfailed\toom_killed\tno_figure\tsource\tmax_kb\tmedian_kb\tp95_kb\tneeds_more_than_kb\tlongest_s\ttotal_s\tlower_bound\tslurm\tsnakemake\tnextflow\trequest_bytes
bwa\t4\t2\t2\t0\tTreePeak\t80000\t50000\t80000\t97656\t2.0\t8.0\ttrue\t--mem=115M\tmem_mb=121\tmemory '115 MB'\t120000922
sort\t1\t0\t0\t0\tTreePeak\t40000\t40000\t40000\t\t2.0\t2.0\tfalse\t--mem=47M\tmem_mb=50\tmemory '47 MB'\t49152000
""",
}


@pytest.mark.parametrize("fmt", ["table", "markdown", "tsv", "json"])
def test_every_format_marks_the_lower_bound(lm, log, fmt):
    """A step with OOM-killed runs beside one without, in each format, from the real CLI."""
    write_runs(log, [bwa_run(80000, OOMS["killed"]), bwa_run(50000, OOMS["not killed"], EXIT_0)])
    with open(log, "ab") as f:
        f.write(writer.render(bwa_run(40000, OOMS["not killed"], EXIT_0, label="sort"), "json"))
    r = lm("report", "--format", fmt, str(log))
    assert r.returncode == 0 and r.stderr == b""
    if fmt != "json":
        assert r.stdout.decode() == REPORTS[fmt]
        return
    bwa, sort = json.loads(r.stdout)
    assert {k: bwa[k] for k in ("oom_killed", "needs_more_than_kb", "lower_bound", "slurm")} == {
        "oom_killed": 2, "needs_more_than_kb": LIMIT_KB, "lower_bound": True,
        "slurm": "--mem=115M"}
    assert (sort["oom_killed"], sort["needs_more_than_kb"], sort["lower_bound"]) == (0, None, False)


def test_a_real_oom_kill_gives_a_lower_bound_above_its_limit(limited, lm, log, memhog):
    """memhog -m 200 killed under a 100,000,000-byte limit, in text and JSON, and a run of it
    that fits: the request is above the limit, not the killed runs' figures plus 20 %."""
    cg = limited("report-oom")
    enter = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
    for fmt in ("text", "json"):
        r = subprocess.run(["sh", "-c", enter, str(cg), *logmemory_command(), "--format", fmt,
                            "-o", str(log), "--label", "hog", memhog, "-m", "200"],
                           env=logmemory_env(), stderr=subprocess.PIPE, timeout=60)
        assert r.returncode == -signal.SIGKILL, r.stderr
    assert lm("-o", str(log), "--label", "hog", memhog, "-m", "20").returncode == 0
    s = steps_of(lm, str(log))["hog"]
    assert (s["runs"], s["oom_killed"], s["needs_more_than_kb"]) == (3, 2, LIMIT_KB)
    assert s["max_kb"] < LIMIT_KB and s["lower_bound"] and s["slurm"] == "--mem=115M"


# The job step of a run, as each batch system names it (sacct, qstat, bjobs).
JOBS = [
    ({"SLURM_JOB_ID": "29"}, "29.batch"),
    ({"SLURM_JOB_ID": "29", "SLURM_STEP_ID": "0"}, "29.0"),
    ({"SLURM_JOB_ID": "29", "SLURM_STEP_ID": "1"}, "29.1"),
    # An array task has a job id of its own (34); sacct names it by the array's and the task's.
    ({"SLURM_JOB_ID": "34", "SLURM_ARRAY_JOB_ID": "29", "SLURM_ARRAY_TASK_ID": "5"}, "29_5.batch"),
    ({"SLURM_JOB_ID": "34", "SLURM_STEP_ID": "0", "SLURM_ARRAY_JOB_ID": "29",
      "SLURM_ARRAY_TASK_ID": "5"}, "29_5.0"),
    ({"PBS_JOBID": "123.pbs1"}, "123.pbs1"),
    ({"PBS_JOBID": "124[4].pbs1", "PBS_ARRAY_INDEX": "4"}, "124[4].pbs1"),  # PBS Pro
    ({"PBS_JOBID": "125[4].pbs1", "PBS_ARRAYID": "4"}, "125[4].pbs1"),  # Torque
    ({"SGE_ROOT": "/opt/sge", "JOB_ID": "126", "SGE_TASK_ID": "4"}, "126.4"),
    ({"SGE_ROOT": "/opt/sge", "JOB_ID": "127", "SGE_TASK_ID": "undefined"}, "127"),
    ({"LSB_JOBID": "128", "LSB_JOBINDEX": "4"}, "128[4]"),
    ({"LSB_JOBID": "129", "LSB_JOBINDEX": "0"}, "129"),
    ({}, "?"),
]


@pytest.mark.parametrize("variables, job", JOBS)
def test_by_job_names_the_job_step_as_the_batch_system_does(lm, log, variables, job):
    env = {k: v for k, v in logmemory_env().items() if k not in BATCH_VARIABLES + ("SGE_ROOT",)}
    for fmt in ("text", "json"):
        assert lm("--format", fmt, "-o", str(log), "true", env={**env, **variables}).returncode == 0
    assert {k: s["runs"] for k, s in steps_of(lm, "--by", "job", str(log)).items()} == {job: 2}
