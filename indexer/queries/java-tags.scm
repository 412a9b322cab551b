; Tags for Java. Capture convention: see python-tags.scm.
; `import a.b.C;` is module "a.b.C"; `import a.b.*;` is module "a.b" with names ("*",).

(package_declaration) @outline

(class_declaration name: (identifier) @name.definition.class) @definition.class

(interface_declaration name: (identifier) @name.definition.interface) @definition.interface

(enum_declaration name: (identifier) @name.definition.enum) @definition.enum

(record_declaration name: (identifier) @name.definition.class) @definition.class

(annotation_type_declaration name: (identifier) @name.definition.interface) @definition.interface

(method_declaration name: (identifier) @name.definition.method) @definition.method

(constructor_declaration name: (identifier) @name.definition.constructor) @definition.constructor

(class_body
  (field_declaration
    declarator: (variable_declarator name: (identifier) @name.definition.field)) @definition.field)

(method_invocation name: (identifier) @name.reference.call)

(object_creation_expression
  type: [
    (type_identifier) @name.reference.class
    (generic_type (type_identifier) @name.reference.class)
  ])

(superclass (type_identifier) @name.reference.class)

(super_interfaces (type_list (type_identifier) @name.reference.implementation))

(type_identifier) @name.reference.type

(import_declaration [(scoped_identifier) (identifier)] @import.module) @import

(import_declaration (asterisk) @import.name) @import
