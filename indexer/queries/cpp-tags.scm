; Tags for C++. Capture convention: see python-tags.scm.
; Out-of-class member definitions `T Box::area() {}` get the class as @scope ("Box.area");
; prototypes and in-class method declarations are definitions; #include is an import.

(function_definition
  declarator: [
    (function_declarator declarator: [(identifier) (field_identifier) (destructor_name) (operator_name)]
      @name.definition.function)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name.definition.function))
    (reference_declarator (function_declarator declarator: (identifier) @name.definition.function))
    (function_declarator declarator: (qualified_identifier
      name: [(identifier) (destructor_name) (operator_name)] @name.definition.function))
    (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier
      name: (identifier) @name.definition.function)))
    (reference_declarator (function_declarator declarator: (qualified_identifier
      name: (identifier) @name.definition.function)))
  ]) @definition.function

(function_definition
  declarator: (_
    declarator: (qualified_identifier
      scope: [
        (namespace_identifier) @name.scope
        (template_type name: (type_identifier) @name.scope)
      ]))) @scope

(function_definition
  declarator: (function_declarator
    declarator: (qualified_identifier
      scope: [
        (namespace_identifier) @name.scope
        (template_type name: (type_identifier) @name.scope)
      ]))) @scope

(declaration
  declarator: [
    (function_declarator declarator: [(identifier) (destructor_name)] @name.definition.function)
    (pointer_declarator declarator: (function_declarator declarator: (identifier) @name.definition.function))
  ]) @definition.function

(field_declaration
  declarator: [
    (function_declarator declarator: (field_identifier) @name.definition.method)
    (pointer_declarator declarator: (function_declarator declarator: (field_identifier) @name.definition.method))
    (reference_declarator (function_declarator declarator: (field_identifier) @name.definition.method))
  ]) @definition.method

(class_specifier name: (type_identifier) @name.definition.class body: (_)) @definition.class

(struct_specifier name: (type_identifier) @name.definition.struct body: (_)) @definition.struct

(union_specifier name: (type_identifier) @name.definition.union body: (_)) @definition.union

(enum_specifier name: (type_identifier) @name.definition.enum body: (_)) @definition.enum

(namespace_definition name: (namespace_identifier) @name.definition.namespace) @definition.namespace

(type_definition declarator: (type_identifier) @name.definition.type) @definition.type

(alias_declaration name: (type_identifier) @name.definition.type) @definition.type

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
    (qualified_identifier name: (identifier) @name.reference.call)
    (template_function name: (identifier) @name.reference.call)
    (qualified_identifier name: (template_function name: (identifier) @name.reference.call))
  ])

(new_expression type: (type_identifier) @name.reference.class)

(base_class_clause (type_identifier) @name.reference.class)

(type_identifier) @name.reference.type

(preproc_include
  path: [
    (string_literal (string_content) @import.module)
    (system_lib_string) @import.module
  ]) @import
