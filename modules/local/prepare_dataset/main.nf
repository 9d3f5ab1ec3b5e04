process PREPARE_DATASET {
    tag "$meta.id"
    label 'process_low'
    container 'cellspace:0.1.0'

    input:
    // files: the inputs named by meta.format (mtx: matrix + sequences FASTA; h5ad: h5ad [+ FASTA];
    // tenx: 10x output directory + genome FASTA)
    tuple val(meta), path(files, stageAs: 'input/*')

    output:
    tuple val(meta), path("${prefix}.h5ad"), emit: h5ad
    path "versions.yml"                    , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    prefix     = task.ext.prefix ?: "${meta.id}"
    def fl     = files instanceof Collection ? (files as List) : [files]
    def inputs = ''
    if (meta.format == 'mtx') {
        inputs = "--matrix ${fl[0]} --fasta ${fl[1]}"
    } else if (meta.format == 'h5ad') {
        inputs = "--h5ad ${fl[0]}" + (fl.size() > 1 ? " --fasta ${fl[1]}" : '')
    } else if (meta.format == 'tenx') {
        inputs = "--tenx ${fl[0]} --genome ${fl[1]}"
    } else {
        error "PREPARE_DATASET: unknown format '${meta.format}' for dataset '${meta.id}'"
    }
    def batch = meta.batch_key ? "--batch-key ${meta.batch_key}" : ''
    """
    cellspace prepare \\
        --out ${prefix}.h5ad \\
        ${inputs} \\
        --dataset ${meta.id} \\
        ${batch} \\
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
    touch ${prefix}.h5ad

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
