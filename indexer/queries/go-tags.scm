; Tags for Go. Capture convention: see python-tags.scm.
; A method's receiver type is its @scope, so methods are qualified "Type.Method".

(package_clause) @outline

(function_declaration
  name: (identifier) @name.definition.function) @definition.function

(method_declaration
  name: (field_identifier) @name.definition.method) @definition.method

(method_declaration
  receiver: (parameter_list
    (parameter_declaration
      type: [
        (type_identifier) @name.scope
        (pointer_type (type_identifier) @name.scope)
        (generic_type type: (type_identifier) @name.scope)
        (pointer_type (generic_type type: (type_identifier) @name.scope))
      ]))) @scope

(type_spec
  name: (type_identifier) @name.definition.struct
  type: (struct_type)) @definition.struct

(type_spec
  name: (type_identifier) @name.definition.interface
  type: (interface_type)) @definition.interface

(type_spec
  name: (type_identifier) @name.definition.type) @definition.type

(type_alias
  name: (type_identifier) @name.definition.type) @definition.type

(method_elem
  name: (field_identifier) @name.definition.method) @definition.method

(source_file
  (const_declaration
    (const_spec name: (identifier) @name.definition.constant) @definition.constant))

(source_file
  (var_declaration
    (var_spec name: (identifier) @name.definition.variable) @definition.variable))

(call_expression
  function: [
    (identifier) @name.reference.call
    (parenthesized_expression (identifier) @name.reference.call)
    (selector_expression field: (field_identifier) @name.reference.call)
    (parenthesized_expression (selector_expression field: (field_identifier) @name.reference.call))
  ])

(composite_literal
  type: [
    (type_identifier) @name.reference.class
    (qualified_type name: (type_identifier) @name.reference.class)
  ])

(type_identifier) @name.reference.type

(qualified_type name: (type_identifier) @name.reference.type)

(import_declaration
  [
    (import_spec path: (interpreted_string_literal (interpreted_string_literal_content) @import.module))
    (import_spec_list
      (import_spec path: (interpreted_string_literal (interpreted_string_literal_content) @import.module)))
  ]) @import
