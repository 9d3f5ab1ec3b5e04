/*
 * Pipeline utilities in plain Groovy (no plugins): help text and parameter validation driven by
 * nextflow_schema.json, samplesheet parsing and validation driven by assets/schema_input.json,
 * and the completion summary.
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

// The samplesheet's rules are assets/schema_input.json alone (JSON Schema 2020-12 with nf-schema's
// file keywords). The functions below evaluate the subset of JSON Schema that file uses, for one
// row (a map of its non-empty cells): type, enum, const, pattern, required, properties (a `false`
// property must be empty), additionalProperties: false, propertyNames, allOf, anyOf, oneOf, not,
// if/then/else, dependentRequired, dependentSchemas; nf-schema's format file-path / directory-path
// / path with exists: true, and errorMessage (replaces the messages of the schema it sits in).
// uniqueEntries (nf-schema) is checked across rows. Each problem is [column or null, message].

def sheetSchema(String schemaPath) {
    def schema = new groovy.json.JsonSlurper().parse(new File(schemaPath))
    def unsupported = unsupportedKeywords(schema)
    if (unsupported) error("${schemaPath}: keyword(s) ${unsupported.join(', ')} not supported by the samplesheet validator")
    return schema
}

// Keywords of a schema outside the subset evaluated here (a rule that would be ignored).
def unsupportedKeywords(schema) {
    if (!(schema instanceof Map)) return []
    def known = ['$schema', '$id', 'title', 'description', 'default', 'examples', 'type', 'items', 'properties',
                 'required', 'additionalProperties', 'propertyNames', 'allOf', 'anyOf', 'oneOf', 'not', 'if',
                 'then', 'else', 'dependentRequired', 'dependentSchemas', 'enum', 'const', 'pattern', 'format',
                 'exists', 'errorMessage', 'uniqueEntries']
    def out = schema.keySet().findAll { !(it in known) } as List
    ['items', 'not', 'if', 'then', 'else', 'propertyNames'].each { k -> out.addAll(unsupportedKeywords(schema[k])) }
    ['allOf', 'anyOf', 'oneOf'].each { k -> (schema[k] ?: []).each { sub -> out.addAll(unsupportedKeywords(sub)) } }
    ['properties', 'dependentSchemas'].each { k -> (schema[k] ?: [:]).each { name, sub -> out.addAll(unsupportedKeywords(sub)) } }
    return out.unique()
}

// " for format 'mtx'" of an if-schema {properties: {format: {const: 'mtx'}}}; generic otherwise.
def schemaCondition(Map cond) {
    def consts = (cond['properties'] ?: [:]).findAll { k, v -> v instanceof Map && v.containsKey('const') }
    if (consts) return ' for ' + consts.collect { k, v -> "${k} '${v['const']}'" }.join(' and ')
    return ''
}

def quoted(List cols) {
    return cols.collect { "'${it}'" }.join(' + ')
}

// Problems of one value (a non-empty cell) against a property schema.
def valueProblems(schema, String col, String value, String ctx, Closure pathProblem) {
    if (schema == true || schema == null) return []
    if (schema == false) return [[col, "must be empty${ctx}"]]
    def out = []
    def types = schema['type'] instanceof List ? schema['type'] : (schema['type'] ? [schema['type']] : [])
    if (types && !types.any { t -> isOfType(value, t as String) }) out << [col, "'${value}' is not of type ${types.join(' or ')}"]
    if (schema['enum'] != null && !(value in schema['enum'].collect { it.toString() })) {
        out << [col, "'${value}' is not one of ${schema['enum'].join(', ')}${ctx}"]
    }
    if (schema.containsKey('const') && value != schema['const'].toString()) out << [col, "must be '${schema['const']}'${ctx}"]
    if (schema['pattern'] && !(value =~ schema['pattern'])) out << [col, "'${value}' does not match ${schema['pattern']}"]
    if (!out && (schema['exists'] || schema['format'] in ['file-path', 'directory-path', 'path'])) {
        def p = pathProblem(value, schema['format'] as String, schema['exists'] == true)
        if (p) out << [col, p]
    }
    if (out && schema['errorMessage']) return [[col, "'${value}' ${schema['errorMessage']}"]]
    return out
}

// Problems of one row (a map column -> non-empty value) against an object schema.
def rowProblems(schema, Map row, String ctx, Closure pathProblem) {
    if (schema == true || schema == null) return []
    if (schema == false) return [[null, "not allowed${ctx}"]]
    def out = []
    def props = schema['properties'] ?: [:]
    (schema['required'] ?: []).each { c -> if (!row.containsKey(c)) out << [c, "required${ctx}"] }
    row.each { c, v ->
        if (props.containsKey(c)) out.addAll(valueProblems(props[c], c as String, v as String, ctx, pathProblem))
        else if (schema['additionalProperties'] == false) out << [c, "unknown column (allowed: ${props.keySet().join(', ')})"]
    }
    def names = schema['propertyNames']
    if (names instanceof Map) {
        row.keySet().each { c ->
            if (valueProblems(names, c as String, c as String, '', pathProblem)) {
                def allowed = names['enum'] ? " (filled only: ${names['enum'].join(', ')})" : ''
                out << [c, "must be empty${ctx}${allowed}"]
            }
        }
    }
    (schema['dependentRequired'] ?: [:]).each { c, needs ->
        if (row.containsKey(c)) needs.each { n -> if (!row.containsKey(n)) out << [n, "required with '${c}'"] }
    }
    (schema['dependentSchemas'] ?: [:]).each { c, sub ->
        if (row.containsKey(c)) out.addAll(rowProblems(sub, row, " with '${c}'", pathProblem).collect { [it[0] ?: c, it[1]] })
    }
    (schema['allOf'] ?: []).each { sub -> out.addAll(rowProblems(sub, row, ctx, pathProblem)) }
    if (schema['anyOf'] != null && !schema['anyOf'].any { sub -> !rowProblems(sub, row, ctx, pathProblem) }) {
        out << [null, "needs " + describeAlternatives(schema['anyOf']) + ctx]
    }
    if (schema['oneOf'] != null && schema['oneOf'].count { sub -> !rowProblems(sub, row, ctx, pathProblem) } != 1) {
        out << [null, "needs exactly one of " + describeAlternatives(schema['oneOf']) + ctx]
    }
    if (schema['not'] != null && !rowProblems(schema['not'], row, ctx, pathProblem)) {
        out << [null, "has a combination of columns that is not allowed${ctx}"]
    }
    if (schema['if'] != null) {
        if (!rowProblems(schema['if'], row, '', pathProblem)) {
            out.addAll(rowProblems(schema['then'], row, schemaCondition(schema['if']), pathProblem))
        } else {
            out.addAll(rowProblems(schema['else'], row, ctx, pathProblem))
        }
    }
    if (out && schema['errorMessage']) return [[out[0][0], schema['errorMessage'] as String]]
    return out
}

// "'sequences' or 'peaks' + 'genome'" of subschemas that only list required columns.
def describeAlternatives(List alternatives) {
    if (alternatives.every { it instanceof Map && it.keySet() == ['required'] as Set }) {
        return alternatives.collect { quoted(it['required']) }.join(' or ')
    }
    return "one of ${alternatives.size()} combinations of columns (see assets/schema_input.json)"
}

// A path cell: local paths (relative to the samplesheet) must exist with exists: true, and be a
// file (file-path) or a folder (directory-path); URLs are staged by Nextflow and not checked here.
def sheetPathProblem(String value, String format, boolean exists, sheetDir) {
    if (value ==~ /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/.*/ && !value.startsWith('file://')) return null
    def p = resolveSheetPath(value, sheetDir)
    if (!p.exists()) return exists ? "file does not exist: ${p}" : null
    if (format == 'file-path' && p.isDirectory()) return "is a directory, expected a file: ${p}"
    if (format == 'directory-path' && !p.isDirectory()) return "is a file, expected a directory: ${p}"
    return null
}

// Problems that need pipeline parameters besides the samplesheet.
def rowParameterProblems(Map row, minFragments) {
    if (row.format == 'fragments' && !row.cells && !minFragments) {
        return [['cells', "format 'fragments' needs a barcode list in 'cells' or the --min_fragments parameter"]]
    }
    return []
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

// Parse and validate the samplesheet against assets/schema_input.json. Returns a list of
// [meta, data, sequences, genome, peaks, cells, obs] (the PREPARE_DATASET input; missing
// optional files are []). Every problem is one line naming the file, the row and the column;
// the pipeline stops before any task starts.
def parseSamplesheet(String sheet, String schemaPath, minFragments = null) {
    def schema = sheetSchema(schemaPath)
    def itemSchema = schema['items']
    def columns = (itemSchema['properties'] ?: [:]).keySet() as List
    def pathColumns = columns.findAll { itemSchema['properties'][it]['format'] in ['file-path', 'directory-path', 'path'] }
    def sheetFile = file(sheet)
    def where = "Samplesheet ${sheet}"
    if (!sheetFile.exists()) error("${where}: file does not exist")
    def lines = sheetFile.readLines().findAll { it.trim() && !it.trim().startsWith('#') }
    if (!lines) error("${where}: file is empty")
    def header = splitCsvLine(lines[0].replace('\uFEFF', ''))
    def errors = []
    if (itemSchema['additionalProperties'] == false) {
        def unknown = header.findAll { !(it in columns) }
        if (unknown) errors << "${where}, header: unknown column(s) ${unknown.join(', ')} (allowed: ${columns.join(', ')})"
    }
    (itemSchema['required'] ?: []).each { if (!(it in header)) errors << "${where}, header: missing required column '${it}'" }
    def dups = header.findAll { h -> header.count(h) > 1 }.unique()
    if (dups) errors << "${where}, header: duplicated column(s) ${dups.join(', ')}"
    if (errors) error(errors.join('\n'))
    if (lines.size() < 2) error("${where}: no dataset rows")

    def pathProblem = { String value, String format, boolean exists -> sheetPathProblem(value, format, exists, sheetFile.parent) }
    def unique = schema['uniqueEntries'] ?: []
    def seen = [:]
    def rows = []
    lines.drop(1).eachWithIndex { line, idx ->
        def rowNo = idx + 1
        def fields = splitCsvLine(line)
        if (fields.size() > header.size()) {
            errors << "${where}, row ${rowNo}: ${fields.size()} fields but the header has ${header.size()} columns"
            return
        }
        def row = [:]   // the row as the schema sees it: empty cells are absent
        header.eachWithIndex { h, j -> if (j < fields.size() && fields[j]) row[h] = fields[j] }
        def at = { String col -> "${where}, row ${rowNo}${row.dataset ? " (dataset '${row.dataset}')" : ''}${col ? ", column '${col}'" : ''}" }
        def problems = rowProblems(itemSchema, row, '', pathProblem) + rowParameterProblems(row, minFragments)
        unique.each { c ->
            if (!row.containsKey(c)) return
            def key = [c, row[c]]
            if (seen.containsKey(key)) problems << [c, "'${row[c]}' already used in row ${seen[key]}"]
            else seen[key] = rowNo
        }
        problems.unique().each { p -> errors << "${at(p[0] as String)}: ${p[1]}" }
        if (problems) return
        def paths = pathColumns.findAll { row.containsKey(it) }.collectEntries { c -> [c, resolveSheetPath(row[c], sheetFile.parent)] }
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
    def sheetSchemaPath = "${projectDir}/assets/schema_input.json"
    def rows = parseSamplesheet(input.toString(), sheetSchemaPath, params.min_fragments)
    log.info("cellspace-nf ${workflow.manifest.version}: ${rows.size()} dataset(s): ${rows.collect { it[0].id }.join(', ')}")
    ch_samplesheet = Channel.fromList(rows)
    def query_rows = params.query ? parseSamplesheet(params.query.toString(), sheetSchemaPath, params.min_fragments) : []
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
