process TRAJECTORY {
    tag "$meta.id"
    label 'process_medium'
    container 'cellspace:0.1.0'

    input:
    tuple val(meta), path(model), path(cells)
    // start: a cell id, KEY=VALUE (a group: Palantir's early cell of that group), or null
    val start

    output:
    tuple val(meta), path("${prefix}/cells.h5ad")    , emit: cells
    tuple val(meta), path("${prefix}/trajectory.tsv"), emit: tsv
    tuple val(meta), path("${prefix}")               , emit: outdir
    path "versions.yml", emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    def start_flag = start && start.toString().contains('=') ? '--start-group' : '--start-cell'
    def from       = start ? "${start_flag} ${start}" : ''
    """
    trajectory.py \\
        --cells ${cells} \\
        --model ${model} \\
        --out ${prefix} \\
        ${from} \\
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
    touch ${prefix}/cells.h5ad ${prefix}/trajectory.tsv ${prefix}/terminal_states.tsv


    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
