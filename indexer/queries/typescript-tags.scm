; Tags for TypeScript and TSX (both grammars read this file). Capture convention: see python-tags.scm.

(class_declaration
  name: (type_identifier) @name.definition.class) @definition.class

(abstract_class_declaration
  name: (type_identifier) @name.definition.class) @definition.class

(interface_declaration
  name: (type_identifier) @name.definition.interface) @definition.interface

(enum_declaration
  name: (identifier) @name.definition.enum) @definition.enum

(type_alias_declaration
  name: (type_identifier) @name.definition.type) @definition.type

(internal_module
  name: [(identifier) (nested_identifier)] @name.definition.namespace) @definition.namespace

(method_definition
  name: [(property_identifier) (private_property_identifier)] @name.definition.method) @definition.method

(method_signature
  name: (property_identifier) @name.definition.method) @definition.method

(abstract_method_signature
  name: (property_identifier) @name.definition.method) @definition.method

(function_declaration
  name: (identifier) @name.definition.function) @definition.function

(function_signature
  name: (identifier) @name.definition.function) @definition.function

(generator_function_declaration
  name: (identifier) @name.definition.function) @definition.function

(variable_declarator
  name: (identifier) @name.definition.function
  value: [(arrow_function) (function_expression) (generator_function)]) @definition.function

(program
  (lexical_declaration
    (variable_declarator
      name: (identifier) @name.definition.constant
      value: [(object) (array) (string) (number) (template_string) (new_expression) (call_expression)
              (as_expression)])
      @definition.constant))

(program
  (export_statement
    (lexical_declaration
      (variable_declarator
        name: (identifier) @name.definition.constant
        value: [(object) (array) (string) (number) (template_string) (new_expression) (call_expression)
                (as_expression)])
        @definition.constant)))

(call_expression
  function: (identifier) @name.reference.call
  (#not-eq? @name.reference.call "require"))

(call_expression
  function: (member_expression
    property: (property_identifier) @name.reference.call))

(new_expression
  constructor: [
    (identifier) @name.reference.class
    (member_expression property: (property_identifier) @name.reference.class)
  ])

(extends_clause value: (identifier) @name.reference.class)

(implements_clause (type_identifier) @name.reference.implementation)

(extends_type_clause (type_identifier) @name.reference.type)

(type_annotation (type_identifier) @name.reference.type)

(type_annotation (generic_type name: (type_identifier) @name.reference.type))

(type_arguments (type_identifier) @name.reference.type)

(union_type (type_identifier) @name.reference.type)

(constraint (type_identifier) @name.reference.type)

(import_statement
  (import_clause
    [
      (identifier) @import.name
      (named_imports (import_specifier name: (identifier) @import.name))
      (namespace_import (identifier) @import.name)
    ])?
  source: (string (string_fragment) @import.module)) @import

(lexical_declaration
  (variable_declarator
    value: (call_expression
      function: (identifier) @_require
      arguments: (arguments (string (string_fragment) @import.module))))
  (#eq? @_require "require")) @import
