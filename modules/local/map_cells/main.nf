process MAP_CELLS {
    tag "$meta.id"
    label 'process_high'
    container 'cellspace:0.1.0'

    input:
    // the trained model and the prepared query datasets (one --h5ad per dataset)
    tuple val(meta), path(model), path(h5ads, stageAs: 'input/*')

    output:
    tuple val(meta), path("${prefix}/cells.h5ad"), emit: cells
    path "versions.yml"                          , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    prefix     = task.ext.prefix ?: "${meta.id}"
    def fl     = h5ads instanceof Collection ? (h5ads as List) : [h5ads]
    def inputs = fl.collect { f -> "--h5ad ${f}" }.join(' ')
    """
    map_cells.py \\
        --model ${model} \\
        --out ${prefix} \\
        ${inputs} \\
        --threads ${task.cpus} \\
        --progress no \\
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
    touch ${prefix}/cells.h5ad

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
