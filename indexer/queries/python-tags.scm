; Tags for Python. Capture convention shared by every <lang>-tags.scm (the indexer reads only
; capture-name prefixes, never node types):
;   @definition.<kind> / @name.definition.<kind>  a definition node and its name
;                                                 (a function nested in a class is reported as a method)
;   @name.reference.<kind>                        a use: call, class, type, implementation
;   @scope / @name.scope                          a node that qualifies the definitions inside it
;                                                 without being one (Rust impl, Go receiver)
;   @import / @import.module / @import.name       an import statement, its module(s), imported names
;   @outline                                      a node kept verbatim in the outline (package clause)
;   captures starting with "_" only serve predicates.

(class_definition
  name: (identifier) @name.definition.class) @definition.class

(function_definition
  name: (identifier) @name.definition.function) @definition.function

(module
  (expression_statement
    (assignment
      left: (identifier) @name.definition.constant) @definition.constant))

(call
  function: [
    (identifier) @name.reference.call
    (attribute attribute: (identifier) @name.reference.call)
  ])

(class_definition
  superclasses: (argument_list
    [
      (identifier) @name.reference.class
      (attribute attribute: (identifier) @name.reference.class)
    ]))

(type (identifier) @name.reference.type)
(type (generic_type (identifier) @name.reference.type))

(import_statement
  name: [
    (dotted_name) @import.module
    (aliased_import name: (dotted_name) @import.module)
  ]) @import

(import_from_statement
  module_name: (_) @import.module) @import

(import_from_statement
  name: [
    (dotted_name) @import.name
    (aliased_import name: (dotted_name) @import.name)
  ])
