process PREPARE_DATASET {
    tag "$meta.id"
    label 'process_low'
    container 'cellspace:0.1.0'

    input:
    // meta.format decides how the inputs are read:
    //   mtx : data = MatrixMarket (cells x events), sequences = event FASTA, cells/obs optional
    //   h5ad: data = AnnData, sequences = event FASTA (optional: else var['sequence'])
    //   tenx: data = Cell Ranger ATAC peak-matrix folder or .h5, sequences = genome FASTA,
    //         obs optional
    // Missing optional inputs are given as [].
    tuple val(meta), path(data), path(sequences), path(cells), path(obs)

    output:
    tuple val(meta), path("${prefix}.h5ad"), emit: h5ad
    path "versions.yml"                    , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    prefix     = task.ext.prefix ?: "${meta.id}"
    def inputs = ''
    if (meta.format == 'mtx') {
        inputs = "--matrix ${data} --fasta ${sequences}"
    } else if (meta.format == 'h5ad') {
        inputs = "--h5ad ${data}" + (sequences ? " --fasta ${sequences}" : '')
    } else if (meta.format == 'tenx') {
        inputs = "--tenx ${data} --genome ${sequences}"
    } else {
        error "PREPARE_DATASET: unknown format '${meta.format}' for dataset '${meta.id}'"
    }
    def cells_arg = cells ? "--cells ${cells}" : ''
    def obs_arg   = obs ? "--obs ${obs}" : ''
    def batch     = meta.batch_key ? "--batch-key ${meta.batch_key}" : ''
    """
    prepare_dataset.py \\
        --out ${prefix}.h5ad \\
        ${inputs} \\
        ${cells_arg} \\
        ${obs_arg} \\
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
