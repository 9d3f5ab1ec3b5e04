/*
 * Pipeline utilities in plain Groovy (no plugins): help text and parameter validation driven by
 * nextflow_schema.json, samplesheet parsing/validation, and the completion summary.
 */

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

// All parameter definitions of the schema: [name: [group: title, ...property]]
def schemaParameters(String schemaPath) {
    def schema = new groovy.json.JsonSlurper().parse(new File(schemaPath))
    def groups = schema['$defs'] ?: schema['definitions'] ?: [:]
    def out = [:]
    groups.each { gname, group ->
        (group.properties ?: [:]).each { pname, prop ->
            def p = new LinkedHashMap(prop)
            p.group = group.title ?: gname
            p.required = (group.required ?: []).contains(pname)
            out[pname] = p
        }
    }
    return out
}

def paramsHelp(String schemaPath, String command) {
    def defs = schemaParameters(schemaPath)
    def lines = []
    lines << "Usage:\n  ${command}\n"
    def byGroup = defs.groupBy { k, v -> v.group }
    byGroup.each { group, ps ->
        lines << "${group}:"
        ps.each { name, p ->
            def dflt = p.containsKey('default') ? " [default: ${p.default}]" : ''
            def req  = p.required ? ' (required)' : ''
            def choices = p.enum ? " (one of: ${p.enum.join(', ')})" : ''
            lines << String.format('  --%-22s %s%s%s%s', name, p.description, choices, req, dflt)
        }
        lines << ''
    }
    lines << 'Profiles: test, test_full, local, docker, singularity, apptainer, slurm, awsbatch, google, k8s'
    return lines.join('\n')
}

// Is `value` of JSON-schema `type`? Strings from the command line are accepted when they parse.
def isOfType(value, String type) {
    if (type == 'integer') {
        return (value instanceof Integer || value instanceof Long || value instanceof BigInteger) ||
            (value instanceof CharSequence && value.toString() ==~ /[+-]?\d+/)
    }
    if (type == 'number') {
        return (value instanceof Number) ||
            (value instanceof CharSequence && value.toString() ==~ /[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/)
    }
    if (type == 'boolean') {
        return value instanceof Boolean || (value instanceof CharSequence && value.toString() in ['true', 'false'])
    }
    if (type == 'string') {   // command-line values such as --slurm_queue 5 arrive as numbers
        return value instanceof CharSequence || value instanceof Number
    }
    return true
}

// Returns [errors: [...], warnings: [...]] for params checked against the schema.
def validateParams(Map params, String schemaPath) {
    def defs = schemaParameters(schemaPath)
    def errors = []
    def warnings = []
    def known = defs.keySet()
    params.each { name, value ->
        def key = name.toString()
        // Nextflow stores --foo-bar also as fooBar; only check the snake_case spelling
        if (key.contains('-') || (key =~ /[a-z][A-Z]/ && !known.contains(key))) {
            def snake = key.replaceAll('-', '_').replaceAll(/([a-z])([A-Z])/) { all, a, b -> "${a}_${b.toLowerCase()}" }
            if (known.contains(snake)) return
        }
        if (!known.contains(key)) {
            warnings << "unknown parameter: --${key}"
            return
        }
        def p = defs[key]
        if (value == null || (value instanceof CharSequence && value.toString() == '')) {
            if (p.required) errors << "--${key} is required: ${p.description}"
            return
        }
        if (value instanceof Boolean && p.type != 'boolean') {
            errors << "--${key} needs a value (${p.type})"
            return
        }
        def types = p.type instanceof List ? p.type : [p.type]
        if (!types.any { t -> isOfType(value, t as String) }) {
            errors << "--${key}: expected ${p.type}, got '${value}'"
            return
        }
        if (types.any { it in ['integer', 'number'] } && isOfType(value, 'number')) {
            def x = value as BigDecimal
            if (p.minimum != null && x < (p.minimum as BigDecimal)) errors << "--${key}: ${value} is below the minimum ${p.minimum}"
            if (p.maximum != null && x > (p.maximum as BigDecimal)) errors << "--${key}: ${value} is above the maximum ${p.maximum}"
            if (p.exclusiveMinimum != null && x <= (p.exclusiveMinimum as BigDecimal)) errors << "--${key}: ${value} must be greater than ${p.exclusiveMinimum}"
        }
        if (p.enum && !(value.toString() in p.enum.collect { it.toString() })) {
            errors << "--${key}: '${value}' is not one of ${p.enum.join(', ')}"
        }
        if (p.pattern && 'string' in types && !(value.toString() ==~ p.pattern)) {
            errors << "--${key}: '${value}' does not match ${p.pattern}"
        }
    }
    defs.each { name, p ->
        if (p.required && !params.containsKey(name)) errors << "--${name} is required: ${p.description}"
    }
    return [errors: errors.unique(), warnings: warnings]
}

// ---------------------------------------------------------------------------------------------
// Samplesheet
// ---------------------------------------------------------------------------------------------

def samplesheetColumns() {
    return ['dataset', 'format', 'matrix', 'sequences', 'h5ad', 'tenx_dir', 'fragments', 'peaks', 'genome', 'batch_key', 'cells', 'obs']
}

// Columns per format: required (all must be filled), optional (may be filled); every other
// file column must be empty. mtx needs 'sequences' or 'peaks' + 'genome' (checked below).
def samplesheetRules() {
    return [
        mtx      : [required: ['matrix'], optional: ['sequences', 'peaks', 'genome', 'cells', 'obs', 'batch_key']],
        h5ad     : [required: ['h5ad'], optional: ['sequences', 'peaks', 'genome', 'batch_key']],
        tenx     : [required: ['tenx_dir', 'genome'], optional: ['obs', 'batch_key']],
        fragments: [required: ['fragments', 'genome'], optional: ['cells', 'obs', 'batch_key']],
    ]
}

// Problems of a row that depend on several columns (sequences from a FASTA or a genome).
def sequenceSourceErrors(Map row, Closure at, minFragments) {
    def errors = []
    if (row.format in ['mtx', 'h5ad']) {
        if (row.sequences && (row.genome || row.peaks)) {
            errors << "${at('sequences')}: give either 'sequences' (a FASTA of the events) or 'genome' (with 'peaks'), not both"
        }
        if (row.peaks && !row.genome) errors << "${at('genome')}: required with 'peaks' (the genome the peaks are cut from)"
        if (row.format == 'mtx' && !row.sequences && !row.peaks) {
            errors << "${at('sequences')}: format 'mtx' needs 'sequences' (a FASTA, one record per column) or 'peaks' (a BED, one line per column) + 'genome'"
        }
    }
    if (row.format == 'fragments' && !row.cells && !minFragments) {
        errors << "${at('cells')}: format 'fragments' needs a barcode list in 'cells' or the --min_fragments parameter"
    }
    return errors
}

// Split one CSV line: commas inside double quotes do not split; "" inside quotes is a quote.
def splitCsvLine(String line) {
    def fields = line.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/, -1) as List
    return fields.collect { String f ->
        def t = f.trim()
        if (t.length() >= 2 && t.startsWith('"') && t.endsWith('"')) {
            t = t.substring(1, t.length() - 1).replace('""', '"')
        }
        return t.trim()
    }
}

// A samplesheet path value -> Path (relative paths resolve against the samplesheet's folder).
def resolveSheetPath(String value, sheetDir) {
    if (value ==~ /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/.*/ || value.startsWith('/')) return file(value)
    return file(sheetDir.resolve(value).toString())
}

// Parse and validate the samplesheet. Returns a list of [meta, data, sequences, genome, peaks, cells, obs]
// (the PREPARE_DATASET input; missing optional files are []). Every problem is reported with
// its row and column; the pipeline stops before any task starts.
def parseSamplesheet(String sheet, minFragments = null) {
    def sheetFile = file(sheet)
    def where = "Samplesheet ${sheet}"
    if (!sheetFile.exists()) error("${where}: file does not exist")
    def lines = sheetFile.readLines().findAll { it.trim() && !it.trim().startsWith('#') }
    if (!lines) error("${where}: file is empty")
    def header = splitCsvLine(lines[0].replace('\uFEFF', ''))
    def errors = []
    def unknown = header.findAll { !(it in samplesheetColumns()) }
    if (unknown) errors << "${where}, header: unknown column(s) ${unknown.join(', ')} (allowed: ${samplesheetColumns().join(', ')})"
    ['dataset', 'format'].each { if (!(it in header)) errors << "${where}, header: missing required column '${it}'" }
    def dups = header.findAll { h -> header.count(h) > 1 }.unique()
    if (dups) errors << "${where}, header: duplicated column(s) ${dups.join(', ')}"
    if (errors) error(errors.join('\n'))
    if (lines.size() < 2) error("${where}: no dataset rows")

    def rules = samplesheetRules()
    def fileCols = ['matrix', 'sequences', 'h5ad', 'tenx_dir', 'fragments', 'peaks', 'genome', 'cells', 'obs']
    def seen = [:]
    def rows = []
    lines.drop(1).eachWithIndex { line, idx ->
        def rowNo = idx + 1
        def fields = splitCsvLine(line)
        if (fields.size() > header.size()) {
            errors << "${where}, row ${rowNo}: ${fields.size()} fields but the header has ${header.size()} columns"
            return
        }
        def row = [:]
        header.eachWithIndex { h, j -> row[h] = j < fields.size() ? fields[j] : '' }
        samplesheetColumns().each { c -> if (!row.containsKey(c)) row[c] = '' }
        def at = { String col -> "${where}, row ${rowNo}${row.dataset ? " (dataset '${row.dataset}')" : ''}, column '${col}'" }

        if (!row.dataset) { errors << "${at('dataset')}: dataset name is empty"; return }
        if (!(row.dataset ==~ /^[A-Za-z0-9][A-Za-z0-9_.-]*$/)) {
            errors << "${at('dataset')}: '${row.dataset}' must start with a letter/digit and contain only letters, digits, '_', '.', '-'"
        }
        if (seen.containsKey(row.dataset)) {
            errors << "${at('dataset')}: dataset '${row.dataset}' already used in row ${seen[row.dataset]}"
        }
        seen[row.dataset] = rowNo
        def rule = rules[row.format]
        if (!rule) { errors << "${at('format')}: '${row.format}' is not one of ${rules.keySet().join(', ')}"; return }
        rule.required.each { c -> if (!row[c]) errors << "${at(c)}: required for format '${row.format}'" }
        errors.addAll(sequenceSourceErrors(row, at, minFragments))
        fileCols.each { c ->
            if (row[c] && !(c in rule.required) && !(c in rule.optional)) {
                errors << "${at(c)}: must be empty for format '${row.format}' (uses ${(rule.required + rule.optional).join(', ')})"
            }
        }
        if (row.batch_key && !(row.batch_key ==~ /^[A-Za-z0-9_.-]+$/)) {
            errors << "${at('batch_key')}: '${row.batch_key}' is not a valid column name"
        }
        def paths = [:]
        fileCols.each { c ->
            if (!row[c] || !((c in rule.required) || (c in rule.optional))) return
            def p = resolveSheetPath(row[c], sheetFile.parent)
            def local = !(row[c] ==~ /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/.*/) || row[c].startsWith('file://')
            if (local && !p.exists()) errors << "${at(c)}: file does not exist: ${p}"
            else if (local && c != 'tenx_dir' && p.isDirectory()) errors << "${at(c)}: is a directory, expected a file: ${p}"
            paths[c] = p
        }
        def meta = [id: row.dataset, format: row.format, batch_key: row.batch_key ?: null]
        def data = paths.matrix ?: paths.h5ad ?: paths.tenx_dir ?: paths.fragments
        def files = [data] + ['sequences', 'genome', 'peaks', 'cells', 'obs'].collect { paths[it] ?: [] }
        rows << [meta] + files
    }
    if (errors) error(errors.join('\n'))
    return rows
}

// ---------------------------------------------------------------------------------------------
// Subworkflows
// ---------------------------------------------------------------------------------------------

workflow PIPELINE_INITIALISATION {
    take:
    input   // samplesheet path (params.input)

    main:
    def schemaPath = "${projectDir}/nextflow_schema.json"
    if (params.validate_params) {
        def result = validateParams(params, schemaPath)
        result.warnings.each { w -> log.warn(w) }
        if (result.errors) {
            error("Invalid parameters:\n  " + result.errors.join('\n  ') + "\nSee --help for usage.")
        }
    }
    if (!input) error("--input is required: a samplesheet CSV (see docs/pipeline.md). Use --help for usage.")
    def rows = parseSamplesheet(input.toString(), params.min_fragments)
    log.info("cellspace-nf ${workflow.manifest.version}: ${rows.size()} dataset(s): ${rows.collect { it[0].id }.join(', ')}")
    ch_samplesheet = Channel.fromList(rows)
    def query_rows = params.query ? parseSamplesheet(params.query.toString(), params.min_fragments) : []
    def clash = query_rows.collect { it[0].id }.intersect(rows.collect { it[0].id })
    if (clash) error("--query ${params.query}: dataset name(s) ${clash.join(', ')} also in --input; give the query datasets other names")
    if (query_rows) log.info("mapping ${query_rows.size()} query dataset(s) into the trained model: ${query_rows.collect { it[0].id }.join(', ')}")
    ch_query = Channel.fromList(query_rows)

    emit:
    samplesheet = ch_samplesheet   // [meta, data, sequences, genome, peaks, cells, obs]
    query       = ch_query         // the same, of the --query samplesheet (empty without it)
}

def completionSummary() {
    if (workflow.success) {
        def cached = workflow.stats.cachedCount ?: 0
        log.info("cellspace-nf completed: results in ${params.outdir}" + (cached ? " (${cached} cached task(s))" : ''))
    } else {
        log.error("cellspace-nf failed: see the error above, the task work directory and .nextflow.log")
    }
}

workflow PIPELINE_COMPLETION {
    main:
    workflow.onComplete {
        completionSummary()
    }
}
