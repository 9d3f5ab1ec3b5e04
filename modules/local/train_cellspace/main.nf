process TRAIN_CELLSPACE {
    tag "$meta.id"
    label 'process_high'
    label 'process_long'
    container 'cellspace:0.1.0'

    input:
    // all prepared datasets, trained together (one --h5ad per dataset)
    tuple val(meta), path(h5ads, stageAs: 'input/*')
    // training parameters (the training group of nextflow_schema.json), name -> value
    val opts

    output:
    tuple val(meta), path("${prefix}/cells.h5ad"), emit: cells
    tuple val(meta), path("${prefix}/model.npz") , emit: model
    tuple val(meta), path("${prefix}")           , emit: outdir
    path "versions.yml"                          , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    prefix     = task.ext.prefix ?: "${meta.id}"
    def fl     = h5ads instanceof Collection ? (h5ads as List) : [h5ads]
    def inputs = fl.collect { f -> "--h5ad ${f}" }.join(' ')
    // every training parameter as its flag: --name-with-dashes value (unset ones left out)
    def params_args = opts
        .findAll { k, v -> v != null && v != '' && v != false }
        .collect { k, v -> v == true ? "--${k.replace('_', '-')}" : "--${k.replace('_', '-')} ${v}" }
        .join(' ')
    """
    train_cellspace.py \\
        --out ${prefix} \\
        ${inputs} \\
        ${params_args} \\
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
    touch ${prefix}/cells.h5ad ${prefix}/model.npz

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        cellspace: \$(cellspace --version | sed 's/^cellspace //')
        python: \$(python3 --version | sed 's/^Python //')
    END_VERSIONS
    """
}
