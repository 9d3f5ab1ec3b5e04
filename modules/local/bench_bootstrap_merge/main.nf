process BENCH_BOOTSTRAP_MERGE {
    tag "$meta.id"
    label 'process_single'
    container 'cellspace:0.1.0'

    input:
    tuple val(meta), path(chunks, stageAs: 'chunks/*')

    output:
    tuple val(meta), path("${prefix}")        , emit: report
    tuple val(meta), path("${prefix}/*.png")  , emit: plots, optional: true
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"

    """
    bench_bootstrap_merge.py \\
        --out ${prefix} \\
        --chunks chunks/* \\
        ${args}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """

    stub:
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    mkdir -p ${prefix}
    touch ${prefix}/bootstrap_summary.tsv


    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
