-- Where in its picture each example was cropped (issue "Trustworthy answers": evidence): the box
-- as fractions of the picture's width and height. NULL for examples stored before: the whole
-- picture is shown.
ALTER TABLE seed_example ADD COLUMN IF NOT EXISTS crop json;
