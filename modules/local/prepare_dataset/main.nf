process PREPARE_DATASET {
    tag "$meta.id"
    label 'process_low'
    container 'cellspace:0.1.0'

    input:
    // meta.format decides how the inputs are read:
    //   mtx      : data = MatrixMarket (cells x events); sequences = event FASTA, or peaks =
    //              BED of the columns + genome; cells/obs optional
    //   h5ad     : data = AnnData; sequences = event FASTA (optional: else var['sequence']),
    //              or genome (+ peaks BED, else var_names chr:start-end) to cut them from
    //   tenx     : data = Cell Ranger ATAC peak-matrix folder or .h5, genome, obs optional
    //   fragments: data = fragments file, genome; cells = barcode list (else
    //              tile_opts.min_fragments), obs optional
    // Missing optional inputs are given as [].
    tuple val(meta), path(data), path(sequences), path(genome), path(peaks), path(cells), path(obs)
    path blacklist      // BED of tiles to drop (fragments), or []
    val tile_opts       // [tile_size: bp, min_fragments: N or null] (fragments)

    output:
    tuple val(meta), path("${prefix}.h5ad"), emit: h5ad
    path "versions.yml"                    , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    prefix     = task.ext.prefix ?: "${meta.id}"
    def inputs     = [mtx: "--matrix ${data}", h5ad: "--h5ad ${data}", tenx: "--tenx ${data}", fragments: "--fragments ${data}"][meta.format]
    if (!inputs) {
        error "PREPARE_DATASET: unknown format '${meta.format}' for dataset '${meta.id}'"
    }
    // sidecar files follow the input they belong to; missing ones are []
    def fasta_arg  = sequences ? "--fasta ${sequences}" : ''
    def peaks_arg  = peaks ? "--peaks ${peaks}" : ''
    def genome_arg = genome ? "--genome ${genome}" : ''
    def cells_arg  = cells ? (meta.format == 'fragments' ? "--barcodes ${cells}" : "--cells ${cells}") : ''
    def obs_arg    = obs ? "--obs ${obs}" : ''
    def tiles      = meta.format != 'fragments' ? '' : "--tile-size ${tile_opts.tile_size}" + (cells ? '' : " --min-fragments ${tile_opts.min_fragments}")
    def blacklist_arg = meta.format == 'fragments' && blacklist ? "--blacklist ${blacklist}" : ''
    def batch      = meta.batch_key ? "--batch-key ${meta.batch_key}" : ''
    """
    prepare_dataset.py \\
        --out ${prefix}.h5ad \\
        ${inputs} ${fasta_arg} ${peaks_arg} ${genome_arg} ${cells_arg} ${obs_arg} \\
        ${tiles} ${blacklist_arg} \\
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
