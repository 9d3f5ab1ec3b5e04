process CUSTOM_DUMPSOFTWAREVERSIONS {
    label 'process_single'
    container 'cellspace:0.1.0'

    input:
    // versions.yml files of all tasks (sorted, so the task hash is stable across runs)
    path(versions, stageAs: 'versions/versions??.yml')
    // workflow-level versions: [pipeline_name: version, Nextflow: version]
    val workflow_versions

    output:
    path "software_versions.yml", emit: yml
    path "versions.yml"         , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def wf = workflow_versions.collect { k, v -> "${k}=${v}" }.join(';')
    """
    WORKFLOW_VERSIONS='${wf}' python3 - <<-'END_PY'
    import glob
    import os
    import platform

    # versions.yml files are '"PROCESS":' followed by indented 'tool: version' lines
    merged = {}
    for path in sorted(glob.glob("versions/*.yml")):
        process = None
        with open(path) as fh:
            for line in fh:
                if not line.strip():
                    continue
                if not line[0].isspace():
                    process = line.strip().rstrip(":").strip('"').split(":")[-1]
                    merged.setdefault(process, {})
                elif process is not None and ":" in line:
                    tool, _, version = line.strip().partition(":")
                    merged[process][tool.strip()] = version.strip().strip('"')
    workflow = dict(
        kv.split("=", 1) for kv in os.environ["WORKFLOW_VERSIONS"].split(";") if "=" in kv
    )

    def dump(d):
        out = []
        for proc in sorted(d):
            out.append(f'"{proc}":')
            for tool in sorted(d[proc]):
                out.append(f'    {tool}: "{d[proc][tool]}"')
        return "\\n".join(out) + "\\n"

    merged["Workflow"] = workflow
    with open("software_versions.yml", "w") as fh:
        fh.write(dump(merged))
    with open("versions.yml", "w") as fh:
        fh.write(dump({"CUSTOM_DUMPSOFTWAREVERSIONS": {"python": platform.python_version()}}))
    END_PY
    """

    stub:
    """
    touch software_versions.yml
    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
