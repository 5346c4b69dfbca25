"""`logmemory report` over real logs of every format, the original tool's, and broken ones; the
records' label, host and batch ids; -o DIR/; the Snakemake benchmark TSV."""

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import json_records, logmemory_env
from logmemory import report, writer
from logmemory.record import ProcessRecord, Run, Tree

MiB = 1024


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
    assert {k: s["runs"] for k, s in steps_of(lm, "--by", "job", str(log)).items()} == {
        "SLURM_JOB_ID=4242": 2, "?": 1}
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
    fields = ("argv", "label", "host", "batch", "figure", "source", "failed", "elapsed")
    data = log.read_bytes()
    texts = [p for p in data.split(b"\n\n") if p.startswith(b"Date")]
    jsons = [line for line in data.splitlines() if line.startswith(b"{")]
    assert len(texts) == len(jsons) == 4
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


def test_text_figure_too_large_is_skipped(tmp_path):
    log = tmp_path / "m.log"
    log.write_bytes(b"Date: Mon Feb 11 21:17:55 2013\nCmd:  x\nVmHWM:\t99999999999999999999 kB\n\n")
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
