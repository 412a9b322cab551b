; Tags for C. Capture convention: see python-tags.scm.
; Function prototypes are definitions of kind "function" too (a header's API); #include is an import.

(function_definition
  declarator: [
    (function_declarator declarator: (identifier) @name.definition.function)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name.definition.function))
    (pointer_declarator declarator: (pointer_declarator
      declarator: (function_declarator declarator: (identifier) @name.definition.function)))
  ]) @definition.function

(declaration
  declarator: [
    (function_declarator declarator: (identifier) @name.definition.function)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name.definition.function))
  ]) @definition.function

(struct_specifier name: (type_identifier) @name.definition.struct body: (_)) @definition.struct

(union_specifier name: (type_identifier) @name.definition.union body: (_)) @definition.union

(enum_specifier name: (type_identifier) @name.definition.enum body: (_)) @definition.enum

(type_definition declarator: (type_identifier) @name.definition.type) @definition.type

(field_declaration_list
  (field_declaration
    declarator: [
      (field_identifier) @name.definition.field
      (array_declarator declarator: (field_identifier) @name.definition.field)
      (pointer_declarator declarator: (field_identifier) @name.definition.field)
    ]) @definition.field)

(preproc_def name: (identifier) @name.definition.constant) @definition.constant

(preproc_function_def name: (identifier) @name.definition.macro) @definition.macro

(call_expression
  function: [
    (identifier) @name.reference.call
    (field_expression field: (field_identifier) @name.reference.call)
  ])

(type_identifier) @name.reference.type

(preproc_include
  path: [
    (string_literal (string_content) @import.module)
    (system_lib_string) @import.module
  ]) @import
